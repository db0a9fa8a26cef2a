-- Who an agent belongs to, and whether its token has been revoked since it ended.
--
-- created_by: the operator subject whose SpawnAgent started the agent's tree
-- (children inherit it). Reads of agents by an operator without `agents.read`
-- are scoped to the agents it created.
-- token_revoked_at: set once policy has revoked the token of an agent in a
-- terminal state (and with it every token descended from it); the kernel's
-- reaper revokes every ended agent whose column is still NULL.
ALTER TABLE kernel.agent_processes
    ADD COLUMN created_by text NOT NULL DEFAULT '',
    ADD COLUMN token_revoked_at timestamptz;

CREATE INDEX agent_processes_created_by ON kernel.agent_processes (created_by, created_at);
CREATE INDEX agent_processes_unrevoked_ends ON kernel.agent_processes (updated_at)
    WHERE token_revoked_at IS NULL
      AND state IN ('completed', 'failed', 'abandoned_ungrounded', 'cancelled');
