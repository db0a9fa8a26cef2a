-- The kernel's process table, its workers and the record of non-idempotent tool
-- executions. Only the aos_kernel role can reach them, and only with the rights
-- the scheduler needs: no DELETE on agents, no DDL.

-- The agent state machine. Every state change is written as
--   UPDATE ... SET state = $to WHERE id = $1 AND state = ANY(kernel.allowed_predecessors($to))
-- so an invalid transition matches zero rows; the trigger below refuses any
-- other UPDATE that would slip one through.
CREATE FUNCTION kernel.allowed_predecessors(to_state text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE to_state
        WHEN 'runnable' THEN ARRAY['running', 'suspended_token_expired']
        WHEN 'running' THEN ARRAY['runnable', 'waiting_approval']
        WHEN 'waiting_approval' THEN ARRAY['running', 'suspended_token_expired']
        WHEN 'completed' THEN ARRAY['running']
        WHEN 'failed' THEN ARRAY['running']
        WHEN 'abandoned_ungrounded' THEN ARRAY['running']
        WHEN 'suspended_token_expired' THEN ARRAY['running', 'waiting_approval']
        WHEN 'cancelled' THEN ARRAY['runnable', 'running', 'waiting_approval', 'suspended_token_expired']
        ELSE ARRAY[]::text[]
    END
$$;

CREATE TABLE kernel.agent_processes (
    id uuid PRIMARY KEY,
    session_id text NOT NULL,
    parent_id uuid REFERENCES kernel.agent_processes (id),
    agent_class text NOT NULL,
    backend text NOT NULL,
    model text NOT NULL,
    state text NOT NULL DEFAULT 'runnable' CHECK (state IN (
        'runnable', 'running', 'waiting_approval', 'completed', 'failed',
        'abandoned_ungrounded', 'suspended_token_expired', 'cancelled')),
    task text NOT NULL,
    grants text[] NOT NULL,
    -- The agent's capability token: held here as provider keys are held in the
    -- kernel's environment; never logged, never returned by the API.
    token text NOT NULL,
    token_jti text NOT NULL,
    token_expires_at timestamptz NOT NULL,
    worker_id text,
    last_heartbeat timestamptz,
    -- Bumped on every claim and every orphan recovery: the fencing epoch a
    -- worker's writes must still match.
    attempts integer NOT NULL DEFAULT 0,
    recoveries integer NOT NULL DEFAULT 0,
    -- Not claimable before this (approval re-polls, back-off after an outage).
    not_before timestamptz NOT NULL DEFAULT now(),
    checkpoint jsonb NOT NULL DEFAULT '{}'::jsonb,
    result text,
    error_reason text,
    error_message text,
    cost_usd double precision NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX agent_processes_claimable ON kernel.agent_processes (not_before)
    WHERE state IN ('runnable', 'waiting_approval');
CREATE INDEX agent_processes_orphans ON kernel.agent_processes (last_heartbeat)
    WHERE state = 'running';
CREATE INDEX agent_processes_session ON kernel.agent_processes (session_id, created_at);

CREATE FUNCTION kernel.refuse_invalid_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state IS DISTINCT FROM OLD.state
       AND NOT (OLD.state = ANY (kernel.allowed_predecessors(NEW.state))) THEN
        RAISE EXCEPTION 'invalid agent state transition % -> %', OLD.state, NEW.state
            USING ERRCODE = 'AOS01';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER agent_processes_state_machine
    BEFORE UPDATE OF state ON kernel.agent_processes
    FOR EACH ROW EXECUTE FUNCTION kernel.refuse_invalid_transition();

CREATE TABLE kernel.workers (
    worker_id text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    last_heartbeat timestamptz NOT NULL DEFAULT now()
);

-- One row per approved (or otherwise non-idempotent) tool effect, inserted
-- before the effect runs: a worker resuming after a crash finds it and does
-- not run the effect again.
CREATE TABLE kernel.tool_executions (
    idempotency_key text PRIMARY KEY,
    agent_id uuid NOT NULL REFERENCES kernel.agent_processes (id),
    tool text NOT NULL,
    args_hash text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    ok boolean,
    result text
);

REVOKE ALL ON ALL TABLES IN SCHEMA kernel FROM PUBLIC;
REVOKE ALL ON FUNCTION kernel.allowed_predecessors(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION kernel.refuse_invalid_transition() FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON kernel.agent_processes TO aos_kernel;
GRANT SELECT, INSERT, UPDATE, DELETE ON kernel.workers TO aos_kernel;
GRANT SELECT, INSERT, UPDATE ON kernel.tool_executions TO aos_kernel;
GRANT EXECUTE ON FUNCTION kernel.allowed_predecessors(text) TO aos_kernel;
GRANT EXECUTE ON FUNCTION kernel.refuse_invalid_transition() TO aos_kernel;
