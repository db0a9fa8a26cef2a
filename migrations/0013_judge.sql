-- The judge (docs/JUDGE.md): a class's judge, the verdict an approval was opened
-- with, each agent's copy of its class's judge, and the state an agent ends in
-- when the judge disputes its final answer.

-- {backend, model, on: [...], policy}; empty: the class has no judge.
ALTER TABLE policy.agent_classes
    ADD COLUMN judge jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(judge) = 'object');

-- {verdict, reason, model} of the judge that saw the call; empty: none did.
ALTER TABLE policy.approvals
    ADD COLUMN judge jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(judge) = 'object');

-- The judge of the agent's class, as policy returned it when the agent was spawned.
ALTER TABLE kernel.agent_processes
    ADD COLUMN judge jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(judge) = 'object');

-- completed_disputed: the agent answered and the judge disagreed. The answer is
-- kept, for an operator to review; nothing runs after it.
CREATE OR REPLACE FUNCTION kernel.allowed_predecessors(to_state text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT AS $$
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

ALTER TABLE kernel.agent_processes DROP CONSTRAINT agent_processes_state_check;
ALTER TABLE kernel.agent_processes ADD CONSTRAINT agent_processes_state_check CHECK (state IN (
    'runnable', 'running', 'waiting_approval', 'completed', 'completed_disputed', 'failed',
    'abandoned_ungrounded', 'suspended_token_expired', 'cancelled'));

-- A disputed agent has ended too: its token is revoked like any ended agent's.
DROP INDEX kernel.agent_processes_unrevoked_ends;
CREATE INDEX agent_processes_unrevoked_ends ON kernel.agent_processes (updated_at)
    WHERE token_revoked_at IS NULL
      AND state IN ('completed', 'completed_disputed', 'failed', 'abandoned_ungrounded', 'cancelled');
