-- Every statement the kernel runs, loaded once by store.py. Parameters only;
-- nothing here is ever built from strings.

-- name: insert_agent
INSERT INTO kernel.agent_processes
    (id, session_id, parent_id, agent_class, backend, model, state, task, grants,
     token, token_jti, token_expires_at, created_by, judge)
VALUES ($1, $2, $3, $4, $5, $6, 'runnable', $7, $8, $9, $10, to_timestamp($11), $12, $13)
RETURNING *;

-- name: get_agent
SELECT * FROM kernel.agent_processes WHERE id = $1;

-- name: root_task
-- The task an operator wrote for this agent's tree: its root's (its own when it has no parent).
WITH RECURSIVE up AS (
    SELECT id, parent_id, task, 0 AS depth FROM kernel.agent_processes WHERE id = $1
    UNION ALL
    SELECT a.id, a.parent_id, a.task, up.depth + 1
    FROM kernel.agent_processes a JOIN up ON a.id = up.parent_id
    WHERE up.depth < 64
)
SELECT task FROM up WHERE parent_id IS NULL;

-- name: list_agents
-- $4 NULL lists every agent; a subject lists only the agents that subject created.
SELECT * FROM kernel.agent_processes
WHERE ($1::text = '' OR state = $1)
  AND ($2::text = '' OR session_id = $2)
  AND ($4::text IS NULL OR created_by = $4)
ORDER BY created_at DESC, id
LIMIT $3;

-- name: unrevoked_ends
-- Ended agents whose token policy has not yet revoked, oldest end first.
SELECT id, token_jti FROM kernel.agent_processes
WHERE token_revoked_at IS NULL
  AND state IN ('completed', 'completed_disputed', 'failed', 'abandoned_ungrounded', 'cancelled')
ORDER BY updated_at
LIMIT $1;

-- name: mark_tokens_revoked
UPDATE kernel.agent_processes SET token_revoked_at = now()
WHERE id = ANY ($1::uuid[]) AND token_revoked_at IS NULL;

-- name: transition
-- A state change. $3 (the fencing epoch) is set for worker writes: a worker
-- whose claim was superseded matches zero rows. Nullable parameters leave the
-- column as it is.
UPDATE kernel.agent_processes
SET state = $2,
    updated_at = now(),
    result = COALESCE($4, result),
    error_reason = COALESCE($5, error_reason),
    error_message = COALESCE($6, error_message),
    checkpoint = COALESCE($7::jsonb, checkpoint),
    cost_usd = cost_usd + $8,
    not_before = now() + make_interval(secs => $9),
    worker_id = NULL
WHERE id = $1
  AND state = ANY (kernel.allowed_predecessors($2))
  AND ($3::integer IS NULL OR (attempts = $3 AND state = 'running'))
RETURNING *;

-- name: lock_agent
-- The row a recorded transition starts from, locked until its transaction ends.
SELECT * FROM kernel.agent_processes WHERE id = $1 FOR UPDATE;

-- name: renew_token
UPDATE kernel.agent_processes
SET state = $2,
    updated_at = now(),
    token = $3,
    token_jti = $4,
    token_expires_at = to_timestamp($5),
    error_reason = NULL,
    error_message = NULL,
    not_before = now()
WHERE id = $1
  AND state = 'suspended_token_expired'
  AND state = ANY (kernel.allowed_predecessors($2))
RETURNING *;

-- name: claim
-- Runnable agents, and waiting ones due to re-poll their approval. SKIP LOCKED
-- lets many workers claim at once without ever taking the same agent. Sessions
-- take turns: the next agent is from the session with the fewest agents running,
-- then the one whose last claim is oldest (never claimed first), so one session's
-- fan-out cannot starve another's; within a session, oldest due first.
-- Sessions are ranked from per-session index look-ups, then walked in that order
-- until one yields an unlocked agent: the cost follows the number of sessions
-- with work due, not the number of agents queued (bench/claim.py).
WITH due AS (
    SELECT d.session_id, min(d.not_before) AS first_due
    FROM kernel.agent_processes d
    WHERE d.state IN ('runnable', 'waiting_approval') AND d.not_before <= now()
    GROUP BY d.session_id
), turns AS (
    SELECT due.session_id, due.first_due,
           (SELECT count(*) FROM kernel.agent_processes r
            WHERE r.session_id = due.session_id AND r.state = 'running') AS running,
           (SELECT max(c.claimed_at) FROM kernel.agent_processes c
            WHERE c.session_id = due.session_id) AS last_claimed
    FROM due
    ORDER BY running, last_claimed NULLS FIRST, first_due
), next AS (
    SELECT q.id
    FROM turns t
    CROSS JOIN LATERAL (
        SELECT p.id FROM kernel.agent_processes p
        WHERE p.session_id = t.session_id AND p.state IN ('runnable', 'waiting_approval') AND p.not_before <= now()
        ORDER BY p.not_before, p.created_at
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    ) q
    LIMIT 1
)
UPDATE kernel.agent_processes AS a
SET state = 'running',
    worker_id = $1,
    last_heartbeat = now(),
    claimed_at = now(),
    attempts = a.attempts + 1,
    updated_at = now()
FROM next
WHERE a.id = next.id AND a.state = ANY (kernel.allowed_predecessors('running'))
RETURNING a.*;

-- name: save_checkpoint
UPDATE kernel.agent_processes
SET checkpoint = $3::jsonb, cost_usd = cost_usd + $4, updated_at = now()
WHERE id = $1 AND attempts = $2 AND state = 'running'
RETURNING id;

-- name: register_worker
INSERT INTO kernel.workers (worker_id, host, pid) VALUES ($1, $2, $3)
ON CONFLICT (worker_id) DO UPDATE SET last_heartbeat = now();

-- name: heartbeat_workers
UPDATE kernel.workers SET last_heartbeat = now() WHERE worker_id = ANY ($1::text[]);

-- name: heartbeat_agents
-- Only the agents a worker is advancing right now: one it has let go of without
-- settling (the database was down at that moment) must fall to the reaper.
UPDATE kernel.agent_processes SET last_heartbeat = now()
WHERE id = ANY ($2::uuid[]) AND worker_id = ANY ($1::text[]) AND state = 'running';

-- name: deregister_workers
DELETE FROM kernel.workers WHERE worker_id = ANY ($1::text[]);

-- name: prune_workers
DELETE FROM kernel.workers WHERE last_heartbeat < now() - make_interval(secs => $1);

-- name: reap_orphans
-- Orphans: running agents whose worker stopped heartbeating. The epoch moves
-- on, so the silent worker's later writes are refused.
UPDATE kernel.agent_processes
SET state = 'runnable',
    worker_id = NULL,
    attempts = attempts + 1,
    recoveries = recoveries + 1,
    not_before = now(),
    updated_at = now()
WHERE state = 'running'
  AND last_heartbeat < now() - make_interval(secs => $1)
  AND state = ANY (kernel.allowed_predecessors('runnable'))
RETURNING id;

-- name: suspend_expired
UPDATE kernel.agent_processes
SET state = 'suspended_token_expired',
    error_reason = 'TOKEN_EXPIRED',
    error_message = 'the agent''s capability token expired while it waited; renew the agent',
    updated_at = now()
WHERE state = 'waiting_approval'
  AND token_expires_at <= now()
  AND state = ANY (kernel.allowed_predecessors('suspended_token_expired'))
RETURNING id;

-- name: scheduler_counts
SELECT
    (SELECT count(*) FROM kernel.workers
      WHERE last_heartbeat >= now() - make_interval(secs => $1)) AS workers,
    count(*) FILTER (WHERE state = 'runnable') AS runnable,
    count(*) FILTER (WHERE state = 'running') AS running,
    count(*) FILTER (WHERE state = 'waiting_approval') AS waiting_approval,
    count(*) FILTER (WHERE state = 'suspended_token_expired') AS suspended_token_expired,
    COALESCE(sum(recoveries), 0) AS orphans_recovered
FROM kernel.agent_processes;

-- name: begin_execution
-- Claims a non-idempotent effect for one syscall, only while the caller's
-- claim on the agent is current. No row back: either someone already claimed
-- it (see get_execution) or the caller is stale.
INSERT INTO kernel.tool_executions (idempotency_key, agent_id, tool, args_hash)
SELECT $1, $2, $4, $5
WHERE EXISTS (
    SELECT 1 FROM kernel.agent_processes WHERE id = $2 AND attempts = $3 AND state = 'running'
)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING idempotency_key;

-- name: get_execution
SELECT * FROM kernel.tool_executions WHERE idempotency_key = $1;

-- name: finish_execution
UPDATE kernel.tool_executions SET finished_at = now(), ok = $2, result = $3
WHERE idempotency_key = $1 AND finished_at IS NULL;

-- name: insert_tool_server
INSERT INTO kernel.tool_servers (name, transport, command, url, secret_env, secret_headers, overrides,
                                 listed, listed_hash, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (name) DO NOTHING
RETURNING name;

-- name: get_tool_server
SELECT * FROM kernel.tool_servers WHERE name = $1;

-- name: list_tool_servers
SELECT * FROM kernel.tool_servers ORDER BY name;

-- name: save_tool_listing
UPDATE kernel.tool_servers SET listed = $2, listed_hash = $3, updated_at = now()
WHERE name = $1 AND listed_hash <> $3
RETURNING name;

-- name: approve_tool_definitions
-- Only the set the operator reviewed: a listing saved since then leaves it unapproved.
UPDATE kernel.tool_servers SET approved = listed, approved_hash = listed_hash, approved_by = $3, updated_at = now()
WHERE name = $1 AND listed_hash = $2
RETURNING name;

-- name: delete_tool_server
DELETE FROM kernel.tool_servers WHERE name = $1 RETURNING name;
