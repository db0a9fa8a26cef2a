-- The claim walks sessions with work due and takes each one's oldest due agent
-- (kernel_svc/queries.sql `claim`): this index serves both the per-session pick
-- and the list of sessions with work due, without reading agents that are done.
CREATE INDEX agent_processes_session_due ON kernel.agent_processes (session_id, not_before, created_at)
    WHERE state IN ('runnable', 'waiting_approval');
