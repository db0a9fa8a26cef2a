-- The policy service's state: agent classes, every capability token it has
-- minted, tool policies, approvals, per-session cost ledgers and the syscalls
-- they were reserved for. Only aos_policy can reach it.

CREATE TABLE policy.agent_classes (
    name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_.-]{0,63}$'),
    backend text NOT NULL CHECK (backend IN ('anthropic', 'openai', 'ollama')),
    model text NOT NULL,
    allowed_backends text[] NOT NULL CHECK (cardinality(allowed_backends) > 0),
    capabilities text[] NOT NULL CHECK (cardinality(capabilities) > 0),
    cost_ceiling_usd numeric(20, 9) NOT NULL CHECK (cost_ceiling_usd > 0),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (backend = ANY (allowed_backends))
);

-- A token is only as good as its row: policy refuses a token whose jti is not
-- here, whose claims differ from the row, or whose lineage has a revoked link.
CREATE TABLE policy.capability_tokens (
    jti text PRIMARY KEY,
    parent_jti text REFERENCES policy.capability_tokens (jti),
    kid text NOT NULL,
    subject text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('operator', 'agent')),
    caps text[] NOT NULL,
    backends text[] NOT NULL,
    session_id uuid,
    agent_id text,
    agent_class text,
    cost_ceiling_usd numeric(20, 9),
    issued_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked boolean NOT NULL DEFAULT false,
    revoked_at timestamptz,
    -- iat has one-second resolution; this orders tokens minted within the same second.
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (expires_at > issued_at),
    CHECK (kind = 'operator' OR (session_id IS NOT NULL AND agent_id IS NOT NULL))
);
CREATE INDEX capability_tokens_parent_idx ON policy.capability_tokens (parent_jti);
CREATE INDEX capability_tokens_agent_idx ON policy.capability_tokens (agent_id, recorded_at DESC);
CREATE INDEX capability_tokens_kid_idx ON policy.capability_tokens (kid, expires_at);
CREATE INDEX capability_tokens_revoked_idx ON policy.capability_tokens (expires_at) WHERE revoked;

CREATE TABLE policy.tools (
    name text PRIMARY KEY,
    reversible boolean NOT NULL,
    blast_radius text NOT NULL CHECK (blast_radius IN ('low', 'medium', 'high')),
    idempotent boolean NOT NULL,
    args_schema_json text NOT NULL DEFAULT '',
    registered_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The approval gate must not be removable by re-registering a tool: once a
-- tool is irreversible it stays irreversible, whatever statement updates it.
CREATE FUNCTION policy.tools_keep_irreversible() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT OLD.reversible AND NEW.reversible THEN
        RAISE EXCEPTION 'tool % is registered irreversible and cannot become reversible', OLD.name
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER tools_keep_irreversible BEFORE UPDATE ON policy.tools
    FOR EACH ROW EXECUTE FUNCTION policy.tools_keep_irreversible();

CREATE TABLE policy.cost_ledger (
    session_id uuid PRIMARY KEY,
    agent_class text NOT NULL,
    ceiling_usd numeric(20, 9) NOT NULL CHECK (ceiling_usd > 0),
    reserved_usd numeric(20, 9) NOT NULL DEFAULT 0 CHECK (reserved_usd >= 0),
    spent_usd numeric(20, 9) NOT NULL DEFAULT 0 CHECK (spent_usd >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE policy.approvals (
    approval_id uuid PRIMARY KEY,
    agent_id text NOT NULL,
    session_id uuid NOT NULL,
    tool text NOT NULL,
    -- The canonical bytes are the truth the hash covers; args are shown from them.
    args_canonical text NOT NULL,
    args_hash text NOT NULL CHECK (args_hash ~ '^[0-9a-f]{64}$'),
    blast_radius text NOT NULL,
    evidence jsonb NOT NULL DEFAULT '[]',
    capability_scope text[] NOT NULL,
    requested_jti text NOT NULL,
    state text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'approved', 'denied', 'expired', 'consumed')),
    decided_by text,
    decided_jti text,
    reason text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    decided_at timestamptz,
    expires_at timestamptz NOT NULL,
    consumed_at timestamptz,
    consumed_syscall_id uuid
);
-- One open request per (agent, tool, args): a retried syscall reuses it.
CREATE UNIQUE INDEX approvals_one_pending_idx ON policy.approvals (agent_id, tool, args_hash)
    WHERE state = 'pending';
CREATE INDEX approvals_state_idx ON policy.approvals (state, created_at DESC);

CREATE TABLE policy.syscalls (
    syscall_id uuid PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES policy.cost_ledger (session_id),
    agent_id text NOT NULL,
    token_jti text NOT NULL,
    kind text NOT NULL,
    target text NOT NULL,
    model text NOT NULL DEFAULT '',
    args_hash text NOT NULL DEFAULT '',
    approval_id uuid REFERENCES policy.approvals (approval_id),
    reserved_usd numeric(20, 9) NOT NULL DEFAULT 0 CHECK (reserved_usd >= 0),
    cost_usd numeric(20, 9),
    ok boolean,
    error text,
    result_digest text,
    created_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);
CREATE INDEX syscalls_session_idx ON policy.syscalls (session_id);

-- Least privilege: no DELETE anywhere; tokens, approvals and syscalls are history.
GRANT SELECT, INSERT ON policy.agent_classes TO aos_policy;
GRANT SELECT, INSERT, UPDATE (revoked, revoked_at) ON policy.capability_tokens TO aos_policy;
GRANT SELECT, INSERT, UPDATE (reversible, blast_radius, idempotent, args_schema_json, updated_at)
    ON policy.tools TO aos_policy;
GRANT SELECT, INSERT, UPDATE (reserved_usd, spent_usd) ON policy.cost_ledger TO aos_policy;
GRANT SELECT, INSERT, UPDATE (state, decided_by, decided_jti, reason, decided_at, consumed_at,
    consumed_syscall_id) ON policy.approvals TO aos_policy;
GRANT SELECT, INSERT, UPDATE (cost_usd, ok, error, result_digest, completed_at)
    ON policy.syscalls TO aos_policy;
