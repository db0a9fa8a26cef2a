CREATE SCHEMA audit;

CREATE SCHEMA kernel;

CREATE SCHEMA policy;

CREATE FUNCTION audit.append_event(p_session_id uuid, p_event_type text, p_record bytea, p_created_at timestamp with time zone) RETURNS TABLE(chain_seq integer, hash bytea)
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_seq integer;
    v_prev bytea;
    v_hash bytea;
BEGIN
    -- The seed keeps audit's lock keys apart from any other advisory lock user.
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(p_session_id::text, 7023));
    SELECT e.chain_seq, e.hash INTO v_seq, v_prev
      FROM audit.audit_events e
     WHERE e.session_id = p_session_id
     ORDER BY e.chain_seq DESC
     LIMIT 1;
    IF NOT FOUND THEN
        v_seq := 0;
        v_prev := pg_catalog.sha256(
            '\x616f7369712e61756469742e67656e657369732e763100'::bytea
            || pg_catalog.convert_to(p_session_id::text, 'UTF8'));
    END IF;
    v_seq := v_seq + 1;
    v_hash := pg_catalog.sha256(
        '\x616f7369712e61756469742e763100'::bytea
        || v_prev || pg_catalog.int8send(v_seq::bigint) || p_record);
    INSERT INTO audit.audit_events (session_id, chain_seq, event_type, record, prev_hash, hash, created_at)
    VALUES (p_session_id, v_seq, p_event_type, p_record, v_prev, v_hash, p_created_at);
    chain_seq := v_seq;
    hash := v_hash;
    RETURN NEXT;
END
$$;

CREATE FUNCTION audit.refuse_anchor_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.stored_at IS NULL
       AND (NEW.session_id, NEW.chain_seq, NEW.head_hash, NEW.anchor_hash, NEW.prev_anchor_hash,
            NEW.object_key, NEW.document, NEW.created_at)
           IS NOT DISTINCT FROM
           (OLD.session_id, OLD.chain_seq, OLD.head_hash, OLD.anchor_hash, OLD.prev_anchor_hash,
            OLD.object_key, OLD.document, OLD.created_at) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit.audit_anchors is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE FUNCTION audit.refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'audit.% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE FUNCTION kernel.allowed_predecessors(to_state text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT
    AS $$
    SELECT CASE to_state
        WHEN 'runnable' THEN ARRAY['running', 'suspended_token_expired']
        WHEN 'running' THEN ARRAY['runnable', 'waiting_approval']
        WHEN 'waiting_approval' THEN ARRAY['running', 'suspended_token_expired']
        WHEN 'completed' THEN ARRAY['running']
        WHEN 'completed_disputed' THEN ARRAY['running']
        WHEN 'failed' THEN ARRAY['running']
        WHEN 'abandoned_ungrounded' THEN ARRAY['running']
        WHEN 'suspended_token_expired' THEN ARRAY['running', 'waiting_approval']
        WHEN 'cancelled' THEN ARRAY['runnable', 'running', 'waiting_approval', 'suspended_token_expired']
        ELSE ARRAY[]::text[]
    END
$$;

CREATE FUNCTION kernel.refuse_invalid_transition() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NEW.state IS DISTINCT FROM OLD.state
       AND NOT (OLD.state = ANY (kernel.allowed_predecessors(NEW.state))) THEN
        RAISE EXCEPTION 'invalid agent state transition % -> %', OLD.state, NEW.state
            USING ERRCODE = 'AOS01';
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION policy.tools_keep_irreversible() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NOT OLD.reversible AND NEW.reversible THEN
        RAISE EXCEPTION 'tool % is registered irreversible and cannot become reversible', OLD.name
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TABLE audit.audit_anchors (
    session_id uuid NOT NULL,
    chain_seq integer NOT NULL,
    head_hash bytea NOT NULL,
    anchor_hash bytea NOT NULL,
    prev_anchor_hash bytea,
    object_key text NOT NULL,
    document bytea NOT NULL,
    created_at timestamp with time zone NOT NULL,
    stored_at timestamp with time zone,
    CONSTRAINT audit_anchors_chain_seq_check CHECK ((chain_seq >= 1))
);

CREATE TABLE audit.audit_events (
    session_id uuid NOT NULL,
    chain_seq integer NOT NULL,
    event_type text NOT NULL,
    record bytea NOT NULL,
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT audit_events_chain_seq_check CHECK ((chain_seq >= 1))
);

CREATE TABLE kernel.agent_processes (
    id uuid NOT NULL,
    session_id text NOT NULL,
    parent_id uuid,
    agent_class text NOT NULL,
    backend text NOT NULL,
    model text NOT NULL,
    state text DEFAULT 'runnable'::text NOT NULL,
    task text NOT NULL,
    grants text[] NOT NULL,
    token text NOT NULL,
    token_jti text NOT NULL,
    token_expires_at timestamp with time zone NOT NULL,
    worker_id text,
    last_heartbeat timestamp with time zone,
    attempts integer DEFAULT 0 NOT NULL,
    recoveries integer DEFAULT 0 NOT NULL,
    not_before timestamp with time zone DEFAULT now() NOT NULL,
    checkpoint jsonb DEFAULT '{}'::jsonb NOT NULL,
    result text,
    error_reason text,
    error_message text,
    cost_usd double precision DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    created_by text DEFAULT ''::text NOT NULL,
    token_revoked_at timestamp with time zone,
    claimed_at timestamp with time zone,
    judge jsonb DEFAULT '{}'::jsonb NOT NULL,
    CONSTRAINT agent_processes_judge_check CHECK ((jsonb_typeof(judge) = 'object'::text)),
    CONSTRAINT agent_processes_state_check CHECK ((state = ANY (ARRAY['runnable'::text, 'running'::text, 'waiting_approval'::text, 'completed'::text, 'completed_disputed'::text, 'failed'::text, 'abandoned_ungrounded'::text, 'suspended_token_expired'::text, 'cancelled'::text])))
);

CREATE TABLE kernel.tool_executions (
    idempotency_key text NOT NULL,
    agent_id uuid NOT NULL,
    tool text NOT NULL,
    args_hash text NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    finished_at timestamp with time zone,
    ok boolean,
    result text
);

CREATE TABLE kernel.tool_servers (
    name text NOT NULL,
    transport text NOT NULL,
    command jsonb DEFAULT '[]'::jsonb NOT NULL,
    url text DEFAULT ''::text NOT NULL,
    secret_env jsonb DEFAULT '{}'::jsonb NOT NULL,
    secret_headers jsonb DEFAULT '{}'::jsonb NOT NULL,
    overrides jsonb DEFAULT '{}'::jsonb NOT NULL,
    listed jsonb DEFAULT '{}'::jsonb NOT NULL,
    listed_hash text DEFAULT ''::text NOT NULL,
    approved jsonb DEFAULT '{}'::jsonb NOT NULL,
    approved_hash text DEFAULT ''::text NOT NULL,
    approved_by text DEFAULT ''::text NOT NULL,
    created_by text DEFAULT ''::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT tool_servers_name_check CHECK ((name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'::text)),
    CONSTRAINT tool_servers_transport_check CHECK ((transport = ANY (ARRAY['stdio'::text, 'http'::text])))
);

CREATE TABLE kernel.workers (
    worker_id text NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    last_heartbeat timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE policy.agent_classes (
    name text NOT NULL,
    backend text NOT NULL,
    model text NOT NULL,
    allowed_backends text[] NOT NULL,
    capabilities text[] NOT NULL,
    cost_ceiling_usd numeric(20,9) NOT NULL,
    created_by text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    max_agents integer,
    max_depth integer,
    sandbox_limits jsonb DEFAULT '{}'::jsonb NOT NULL,
    untrusted_args text DEFAULT 'approve'::text NOT NULL,
    judge jsonb DEFAULT '{}'::jsonb NOT NULL,
    approval_quorum jsonb DEFAULT '{}'::jsonb NOT NULL,
    approval_excludes_spawner boolean DEFAULT false NOT NULL,
    approval_ttl_seconds integer,
    CONSTRAINT agent_classes_allowed_backends_check CHECK ((cardinality(allowed_backends) > 0)),
    CONSTRAINT agent_classes_approval_quorum_check CHECK ((jsonb_typeof(approval_quorum) = 'object'::text)),
    CONSTRAINT agent_classes_approval_ttl_seconds_check CHECK ((approval_ttl_seconds > 0)),
    CONSTRAINT agent_classes_backend_check CHECK ((backend = ANY (ARRAY['anthropic'::text, 'openai'::text, 'ollama'::text]))),
    CONSTRAINT agent_classes_capabilities_check CHECK ((cardinality(capabilities) > 0)),
    CONSTRAINT agent_classes_check CHECK ((backend = ANY (allowed_backends))),
    CONSTRAINT agent_classes_cost_ceiling_usd_check CHECK ((cost_ceiling_usd > (0)::numeric)),
    CONSTRAINT agent_classes_judge_check CHECK ((jsonb_typeof(judge) = 'object'::text)),
    CONSTRAINT agent_classes_max_agents_check CHECK ((max_agents > 0)),
    CONSTRAINT agent_classes_max_depth_check CHECK ((max_depth > 0)),
    CONSTRAINT agent_classes_name_check CHECK ((name ~ '^[a-z][a-z0-9_.-]{0,63}$'::text)),
    CONSTRAINT agent_classes_sandbox_limits_check CHECK ((jsonb_typeof(sandbox_limits) = 'object'::text)),
    CONSTRAINT agent_classes_untrusted_args_check CHECK ((untrusted_args = ANY (ARRAY['allow'::text, 'approve'::text, 'deny'::text])))
);

CREATE TABLE policy.approval_approvers (
    approval_id uuid NOT NULL,
    subject text NOT NULL,
    jti text NOT NULL,
    approved_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE policy.approvals (
    approval_id uuid NOT NULL,
    agent_id text NOT NULL,
    session_id uuid NOT NULL,
    tool text NOT NULL,
    args_canonical text NOT NULL,
    args_hash text NOT NULL,
    blast_radius text NOT NULL,
    evidence jsonb DEFAULT '[]'::jsonb NOT NULL,
    capability_scope text[] NOT NULL,
    requested_jti text NOT NULL,
    state text DEFAULT 'pending'::text NOT NULL,
    decided_by text,
    decided_jti text,
    reason text DEFAULT ''::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    decided_at timestamp with time zone,
    expires_at timestamp with time zone NOT NULL,
    consumed_at timestamp with time zone,
    consumed_syscall_id uuid,
    arg_provenance jsonb DEFAULT '{}'::jsonb NOT NULL,
    judge jsonb DEFAULT '{}'::jsonb NOT NULL,
    approvals_required integer DEFAULT 1 NOT NULL,
    excluded_approvers text[] DEFAULT '{}'::text[] NOT NULL,
    CONSTRAINT approvals_approvals_required_check CHECK (((approvals_required >= 1) AND (approvals_required <= 10))),
    CONSTRAINT approvals_arg_provenance_check CHECK ((jsonb_typeof(arg_provenance) = 'object'::text)),
    CONSTRAINT approvals_args_hash_check CHECK ((args_hash ~ '^[0-9a-f]{64}$'::text)),
    CONSTRAINT approvals_judge_check CHECK ((jsonb_typeof(judge) = 'object'::text)),
    CONSTRAINT approvals_state_check CHECK ((state = ANY (ARRAY['pending'::text, 'approved'::text, 'denied'::text, 'expired'::text, 'consumed'::text])))
);

CREATE TABLE policy.capability_tokens (
    jti text NOT NULL,
    parent_jti text,
    kid text NOT NULL,
    subject text NOT NULL,
    kind text NOT NULL,
    caps text[] NOT NULL,
    backends text[] NOT NULL,
    session_id uuid,
    agent_id text,
    agent_class text,
    cost_ceiling_usd numeric(20,9),
    issued_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    revoked boolean DEFAULT false NOT NULL,
    revoked_at timestamp with time zone,
    recorded_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    CONSTRAINT capability_tokens_check CHECK ((expires_at > issued_at)),
    CONSTRAINT capability_tokens_check1 CHECK (((kind = 'operator'::text) OR ((session_id IS NOT NULL) AND (agent_id IS NOT NULL)))),
    CONSTRAINT capability_tokens_kind_check CHECK ((kind = ANY (ARRAY['operator'::text, 'agent'::text])))
);

CREATE TABLE policy.cost_ledger (
    session_id uuid NOT NULL,
    agent_class text NOT NULL,
    ceiling_usd numeric(20,9) NOT NULL,
    reserved_usd numeric(20,9) DEFAULT 0 NOT NULL,
    spent_usd numeric(20,9) DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    agent_count integer DEFAULT 0 NOT NULL,
    CONSTRAINT cost_ledger_agent_count_check CHECK ((agent_count >= 0)),
    CONSTRAINT cost_ledger_ceiling_usd_check CHECK ((ceiling_usd > (0)::numeric)),
    CONSTRAINT cost_ledger_reserved_usd_check CHECK ((reserved_usd >= (0)::numeric)),
    CONSTRAINT cost_ledger_spent_usd_check CHECK ((spent_usd >= (0)::numeric))
);

CREATE TABLE policy.session_agents (
    agent_id text NOT NULL,
    session_id uuid NOT NULL,
    parent_agent_id text,
    depth integer NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT session_agents_depth_check CHECK ((depth >= 0))
);

CREATE TABLE policy.syscalls (
    syscall_id uuid NOT NULL,
    session_id uuid NOT NULL,
    agent_id text NOT NULL,
    token_jti text NOT NULL,
    kind text NOT NULL,
    target text NOT NULL,
    model text DEFAULT ''::text NOT NULL,
    args_hash text DEFAULT ''::text NOT NULL,
    approval_id uuid,
    reserved_usd numeric(20,9) DEFAULT 0 NOT NULL,
    cost_usd numeric(20,9),
    ok boolean,
    error text,
    result_digest text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    completed_at timestamp with time zone,
    reported_usd numeric(20,9),
    CONSTRAINT syscalls_reported_usd_check CHECK ((reported_usd >= (0)::numeric)),
    CONSTRAINT syscalls_reserved_usd_check CHECK ((reserved_usd >= (0)::numeric))
);

CREATE TABLE policy.tools (
    name text NOT NULL,
    reversible boolean NOT NULL,
    blast_radius text NOT NULL,
    idempotent boolean NOT NULL,
    args_schema_json text DEFAULT ''::text NOT NULL,
    registered_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    definition_hash text DEFAULT ''::text NOT NULL,
    open_world boolean DEFAULT false NOT NULL,
    CONSTRAINT tools_blast_radius_check CHECK ((blast_radius = ANY (ARRAY['low'::text, 'medium'::text, 'high'::text])))
);

ALTER TABLE ONLY audit.audit_anchors
    ADD CONSTRAINT audit_anchors_anchor_hash_key UNIQUE (anchor_hash);

ALTER TABLE ONLY audit.audit_anchors
    ADD CONSTRAINT audit_anchors_object_key_key UNIQUE (object_key);

ALTER TABLE ONLY audit.audit_anchors
    ADD CONSTRAINT audit_anchors_pkey PRIMARY KEY (session_id, chain_seq);

ALTER TABLE ONLY audit.audit_events
    ADD CONSTRAINT audit_events_pkey PRIMARY KEY (session_id, chain_seq);

ALTER TABLE ONLY kernel.agent_processes
    ADD CONSTRAINT agent_processes_pkey PRIMARY KEY (id);

ALTER TABLE ONLY kernel.tool_executions
    ADD CONSTRAINT tool_executions_pkey PRIMARY KEY (idempotency_key);

ALTER TABLE ONLY kernel.tool_servers
    ADD CONSTRAINT tool_servers_pkey PRIMARY KEY (name);

ALTER TABLE ONLY kernel.workers
    ADD CONSTRAINT workers_pkey PRIMARY KEY (worker_id);

ALTER TABLE ONLY policy.agent_classes
    ADD CONSTRAINT agent_classes_pkey PRIMARY KEY (name);

ALTER TABLE ONLY policy.approval_approvers
    ADD CONSTRAINT approval_approvers_pkey PRIMARY KEY (approval_id, subject);

ALTER TABLE ONLY policy.approvals
    ADD CONSTRAINT approvals_pkey PRIMARY KEY (approval_id);

ALTER TABLE ONLY policy.capability_tokens
    ADD CONSTRAINT capability_tokens_pkey PRIMARY KEY (jti);

ALTER TABLE ONLY policy.cost_ledger
    ADD CONSTRAINT cost_ledger_pkey PRIMARY KEY (session_id);

ALTER TABLE ONLY policy.session_agents
    ADD CONSTRAINT session_agents_pkey PRIMARY KEY (agent_id);

ALTER TABLE ONLY policy.syscalls
    ADD CONSTRAINT syscalls_pkey PRIMARY KEY (syscall_id);

ALTER TABLE ONLY policy.tools
    ADD CONSTRAINT tools_pkey PRIMARY KEY (name);

CREATE INDEX audit_anchors_backlog ON audit.audit_anchors USING btree (created_at) WHERE (stored_at IS NULL);

CREATE INDEX agent_processes_claimable ON kernel.agent_processes USING btree (not_before) WHERE (state = ANY (ARRAY['runnable'::text, 'waiting_approval'::text]));

CREATE INDEX agent_processes_created_by ON kernel.agent_processes USING btree (created_by, created_at);

CREATE INDEX agent_processes_orphans ON kernel.agent_processes USING btree (last_heartbeat) WHERE (state = 'running'::text);

CREATE INDEX agent_processes_session ON kernel.agent_processes USING btree (session_id, created_at);

CREATE INDEX agent_processes_session_claims ON kernel.agent_processes USING btree (session_id, claimed_at);

CREATE INDEX agent_processes_session_due ON kernel.agent_processes USING btree (session_id, not_before, created_at) WHERE (state = ANY (ARRAY['runnable'::text, 'waiting_approval'::text]));

CREATE INDEX agent_processes_session_running ON kernel.agent_processes USING btree (session_id) WHERE (state = 'running'::text);

CREATE INDEX agent_processes_unrevoked_ends ON kernel.agent_processes USING btree (updated_at) WHERE ((token_revoked_at IS NULL) AND (state = ANY (ARRAY['completed'::text, 'completed_disputed'::text, 'failed'::text, 'abandoned_ungrounded'::text, 'cancelled'::text])));

CREATE UNIQUE INDEX approvals_one_pending_idx ON policy.approvals USING btree (agent_id, tool, args_hash) WHERE (state = 'pending'::text);

CREATE INDEX approvals_state_idx ON policy.approvals USING btree (state, created_at DESC);

CREATE INDEX capability_tokens_agent_idx ON policy.capability_tokens USING btree (agent_id, recorded_at DESC);

CREATE INDEX capability_tokens_kid_idx ON policy.capability_tokens USING btree (kid, expires_at);

CREATE INDEX capability_tokens_parent_idx ON policy.capability_tokens USING btree (parent_jti);

CREATE INDEX capability_tokens_revoked_idx ON policy.capability_tokens USING btree (expires_at) WHERE revoked;

CREATE INDEX syscalls_session_idx ON policy.syscalls USING btree (session_id);

CREATE TRIGGER audit_anchors_append_only BEFORE DELETE OR UPDATE ON audit.audit_anchors FOR EACH ROW EXECUTE FUNCTION audit.refuse_anchor_change();

CREATE TRIGGER audit_anchors_no_truncate BEFORE TRUNCATE ON audit.audit_anchors FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();

CREATE TRIGGER audit_events_append_only BEFORE DELETE OR UPDATE ON audit.audit_events FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();

CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit.audit_events FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();

CREATE TRIGGER agent_processes_state_machine BEFORE UPDATE OF state ON kernel.agent_processes FOR EACH ROW EXECUTE FUNCTION kernel.refuse_invalid_transition();

CREATE TRIGGER tools_keep_irreversible BEFORE UPDATE ON policy.tools FOR EACH ROW EXECUTE FUNCTION policy.tools_keep_irreversible();

ALTER TABLE ONLY kernel.agent_processes
    ADD CONSTRAINT agent_processes_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES kernel.agent_processes(id);

ALTER TABLE ONLY kernel.tool_executions
    ADD CONSTRAINT tool_executions_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES kernel.agent_processes(id);

ALTER TABLE ONLY policy.approval_approvers
    ADD CONSTRAINT approval_approvers_approval_id_fkey FOREIGN KEY (approval_id) REFERENCES policy.approvals(approval_id);

ALTER TABLE ONLY policy.capability_tokens
    ADD CONSTRAINT capability_tokens_parent_jti_fkey FOREIGN KEY (parent_jti) REFERENCES policy.capability_tokens(jti);

ALTER TABLE ONLY policy.session_agents
    ADD CONSTRAINT session_agents_session_id_fkey FOREIGN KEY (session_id) REFERENCES policy.cost_ledger(session_id);

ALTER TABLE ONLY policy.syscalls
    ADD CONSTRAINT syscalls_approval_id_fkey FOREIGN KEY (approval_id) REFERENCES policy.approvals(approval_id);

ALTER TABLE ONLY policy.syscalls
    ADD CONSTRAINT syscalls_session_id_fkey FOREIGN KEY (session_id) REFERENCES policy.cost_ledger(session_id);

GRANT USAGE ON SCHEMA audit TO aos_audit;

GRANT USAGE ON SCHEMA kernel TO aos_kernel;

GRANT USAGE ON SCHEMA policy TO aos_policy;

REVOKE ALL ON FUNCTION audit.append_event(p_session_id uuid, p_event_type text, p_record bytea, p_created_at timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION audit.append_event(p_session_id uuid, p_event_type text, p_record bytea, p_created_at timestamp with time zone) TO aos_audit;

REVOKE ALL ON FUNCTION audit.refuse_anchor_change() FROM PUBLIC;

REVOKE ALL ON FUNCTION audit.refuse_change() FROM PUBLIC;

REVOKE ALL ON FUNCTION kernel.allowed_predecessors(to_state text) FROM PUBLIC;
GRANT ALL ON FUNCTION kernel.allowed_predecessors(to_state text) TO aos_kernel;

REVOKE ALL ON FUNCTION kernel.refuse_invalid_transition() FROM PUBLIC;
GRANT ALL ON FUNCTION kernel.refuse_invalid_transition() TO aos_kernel;

GRANT SELECT,INSERT ON TABLE audit.audit_anchors TO aos_audit;

GRANT UPDATE(stored_at) ON TABLE audit.audit_anchors TO aos_audit;

GRANT SELECT,INSERT ON TABLE audit.audit_events TO aos_audit;

GRANT SELECT,INSERT,UPDATE ON TABLE kernel.agent_processes TO aos_kernel;

GRANT SELECT,INSERT,UPDATE ON TABLE kernel.tool_executions TO aos_kernel;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE kernel.tool_servers TO aos_kernel;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE kernel.workers TO aos_kernel;

GRANT SELECT,INSERT ON TABLE policy.agent_classes TO aos_policy;

GRANT SELECT,INSERT ON TABLE policy.approval_approvers TO aos_policy;

GRANT SELECT,INSERT ON TABLE policy.approvals TO aos_policy;

GRANT UPDATE(state) ON TABLE policy.approvals TO aos_policy;

GRANT UPDATE(decided_by) ON TABLE policy.approvals TO aos_policy;

GRANT UPDATE(decided_jti) ON TABLE policy.approvals TO aos_policy;

GRANT UPDATE(reason) ON TABLE policy.approvals TO aos_policy;

GRANT UPDATE(decided_at) ON TABLE policy.approvals TO aos_policy;

GRANT UPDATE(consumed_at) ON TABLE policy.approvals TO aos_policy;

GRANT UPDATE(consumed_syscall_id) ON TABLE policy.approvals TO aos_policy;

GRANT SELECT,INSERT ON TABLE policy.capability_tokens TO aos_policy;

GRANT UPDATE(revoked) ON TABLE policy.capability_tokens TO aos_policy;

GRANT UPDATE(revoked_at) ON TABLE policy.capability_tokens TO aos_policy;

GRANT SELECT,INSERT ON TABLE policy.cost_ledger TO aos_policy;

GRANT UPDATE(reserved_usd) ON TABLE policy.cost_ledger TO aos_policy;

GRANT UPDATE(spent_usd) ON TABLE policy.cost_ledger TO aos_policy;

GRANT UPDATE(agent_count) ON TABLE policy.cost_ledger TO aos_policy;

GRANT SELECT,INSERT ON TABLE policy.session_agents TO aos_policy;

GRANT SELECT,INSERT ON TABLE policy.syscalls TO aos_policy;

GRANT UPDATE(cost_usd) ON TABLE policy.syscalls TO aos_policy;

GRANT UPDATE(ok) ON TABLE policy.syscalls TO aos_policy;

GRANT UPDATE(error) ON TABLE policy.syscalls TO aos_policy;

GRANT UPDATE(result_digest) ON TABLE policy.syscalls TO aos_policy;

GRANT UPDATE(completed_at) ON TABLE policy.syscalls TO aos_policy;

GRANT UPDATE(reported_usd) ON TABLE policy.syscalls TO aos_policy;

GRANT SELECT,INSERT ON TABLE policy.tools TO aos_policy;

GRANT UPDATE(reversible) ON TABLE policy.tools TO aos_policy;

GRANT UPDATE(blast_radius) ON TABLE policy.tools TO aos_policy;

GRANT UPDATE(idempotent) ON TABLE policy.tools TO aos_policy;

GRANT UPDATE(args_schema_json) ON TABLE policy.tools TO aos_policy;

GRANT UPDATE(updated_at) ON TABLE policy.tools TO aos_policy;

GRANT UPDATE(definition_hash) ON TABLE policy.tools TO aos_policy;

GRANT UPDATE(open_world) ON TABLE policy.tools TO aos_policy;
