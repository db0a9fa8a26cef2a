-- Spawn limits and fair claims. A session counts its agents and each agent's
-- spawn depth, so a class's limits are checked in one statement; the kernel
-- records when an agent was last claimed, so claims take turns across sessions.

-- NULL: the deployment's default (AOS_MAX_AGENTS_PER_SESSION, AOS_MAX_SPAWN_DEPTH).
ALTER TABLE policy.agent_classes
    ADD COLUMN max_agents integer CHECK (max_agents > 0),
    ADD COLUMN max_depth integer CHECK (max_depth > 0);

ALTER TABLE policy.cost_ledger ADD COLUMN agent_count integer NOT NULL DEFAULT 0 CHECK (agent_count >= 0);
-- Sessions that exist already count the agents policy minted for them.
UPDATE policy.cost_ledger l SET agent_count = (
    SELECT count(DISTINCT t.agent_id) FROM policy.capability_tokens t
    WHERE t.session_id = l.session_id AND t.kind = 'agent'
);

CREATE TABLE policy.session_agents (
    agent_id text PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES policy.cost_ledger (session_id),
    parent_agent_id text,
    depth integer NOT NULL CHECK (depth >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT ON policy.session_agents TO aos_policy;
GRANT UPDATE (agent_count) ON policy.cost_ledger TO aos_policy;

ALTER TABLE kernel.agent_processes ADD COLUMN claimed_at timestamptz;
CREATE INDEX agent_processes_session_claims ON kernel.agent_processes (session_id, claimed_at);
CREATE INDEX agent_processes_session_running ON kernel.agent_processes (session_id) WHERE state = 'running';
