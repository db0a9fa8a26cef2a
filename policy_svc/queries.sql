-- Every statement the policy service runs. Loaded once by store.py; each block
-- starts with `-- name: <query_name>`. Values are always bind parameters.

-- name: insert_class
INSERT INTO policy.agent_classes (name, backend, model, allowed_backends, capabilities, cost_ceiling_usd, created_by,
                                  max_agents, max_depth, sandbox_limits, untrusted_args, judge, approval_quorum,
                                  approval_excludes_spawner, approval_ttl_seconds)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13::jsonb, $14, $15)
RETURNING name, backend, model, allowed_backends, capabilities, cost_ceiling_usd, created_at, max_agents, max_depth,
          sandbox_limits, untrusted_args, judge::text AS judge, approval_quorum::text AS approval_quorum,
          approval_excludes_spawner, approval_ttl_seconds;

-- name: get_class
SELECT name, backend, model, allowed_backends, capabilities, cost_ceiling_usd, created_at, max_agents, max_depth,
       sandbox_limits, untrusted_args, judge::text AS judge, approval_quorum::text AS approval_quorum,
       approval_excludes_spawner, approval_ttl_seconds
FROM policy.agent_classes WHERE name = $1;

-- name: list_classes
SELECT name, backend, model, allowed_backends, capabilities, cost_ceiling_usd, created_at, max_agents, max_depth,
       sandbox_limits, untrusted_args, judge::text AS judge, approval_quorum::text AS approval_quorum,
       approval_excludes_spawner, approval_ttl_seconds
FROM policy.agent_classes ORDER BY name;

-- name: insert_token
INSERT INTO policy.capability_tokens (jti, parent_jti, kid, subject, kind, caps, backends, session_id, agent_id,
                                      agent_class, cost_ceiling_usd, issued_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, to_timestamp($12), to_timestamp($13));

-- name: token_lineage
-- The token's row, then its parent's, up to the root (depth-bounded against cycles).
WITH RECURSIVE lineage AS (
    SELECT t.*, 0 AS depth FROM policy.capability_tokens t WHERE t.jti = $1
    UNION ALL
    SELECT p.*, l.depth + 1 FROM policy.capability_tokens p JOIN lineage l ON p.jti = l.parent_jti
    WHERE l.depth < 64
)
SELECT jti, parent_jti, kid, subject, kind, caps, backends, session_id::text AS session_id, agent_id,
       agent_class, cost_ceiling_usd, extract(epoch FROM issued_at)::bigint AS issued_at,
       extract(epoch FROM expires_at)::bigint AS expires_at, revoked
FROM lineage ORDER BY depth;

-- name: revoke_subtree
WITH RECURSIVE subtree AS (
    SELECT jti FROM policy.capability_tokens WHERE jti = $1
    UNION
    SELECT c.jti FROM policy.capability_tokens c JOIN subtree s ON c.parent_jti = s.jti
)
UPDATE policy.capability_tokens t SET revoked = true, revoked_at = coalesce(t.revoked_at, now())
FROM subtree WHERE t.jti = subtree.jti
RETURNING t.jti;

-- name: list_tokens_under
-- Tokens descended from $1 (not $1 itself); $2 = include revoked ones.
WITH RECURSIVE subtree AS (
    SELECT c.* FROM policy.capability_tokens c WHERE c.parent_jti = $1
    UNION
    SELECT c.* FROM policy.capability_tokens c JOIN subtree s ON c.parent_jti = s.jti
)
SELECT jti, parent_jti, subject, kind, caps, backends, session_id::text AS session_id,
       issued_at, expires_at, revoked
FROM subtree WHERE expires_at > now() AND ($2 OR NOT revoked)
ORDER BY issued_at DESC LIMIT 1000;

-- name: list_all_tokens
SELECT jti, parent_jti, subject, kind, caps, backends, session_id::text AS session_id,
       issued_at, expires_at, revoked
FROM policy.capability_tokens WHERE expires_at > now() AND ($1 OR NOT revoked)
ORDER BY issued_at DESC LIMIT 1000;

-- name: latest_agent_token
SELECT jti, parent_jti, kid, subject, kind, caps, backends, session_id::text AS session_id, agent_id,
       agent_class, cost_ceiling_usd, extract(epoch FROM issued_at)::bigint AS issued_at,
       extract(epoch FROM expires_at)::bigint AS expires_at, revoked
FROM policy.capability_tokens WHERE agent_id = $1 AND kind = 'agent'
ORDER BY recorded_at DESC LIMIT 1;

-- name: revoked_unexpired
SELECT jti FROM policy.capability_tokens WHERE revoked AND expires_at > now();

-- name: kids_in_use
SELECT DISTINCT kid FROM policy.capability_tokens WHERE expires_at > now();

-- name: insert_ledger
INSERT INTO policy.cost_ledger (session_id, agent_class, ceiling_usd) VALUES ($1, $2, $3);

-- name: get_ledger
SELECT session_id::text AS session_id, ceiling_usd, reserved_usd, spent_usd FROM policy.cost_ledger
WHERE session_id = $1;

-- name: admit_agent
-- Spawn limits: the session's agent count and the new agent's depth (its parent's
-- plus one; 0 for an agent with no parent) are checked against the session class's
-- limits ($4, $5: the deployment's defaults) and counted in one statement.
-- Concurrent spawns serialize on the ledger row, so none can pass the count.
WITH placed AS (
    SELECT CASE WHEN $3 = '' THEN 0
                ELSE COALESCE((SELECT depth FROM policy.session_agents WHERE session_id = $1 AND agent_id = $3), 0) + 1
           END AS depth
), admitted AS (
    UPDATE policy.cost_ledger l SET agent_count = l.agent_count + 1
    FROM policy.agent_classes c, placed p
    WHERE l.session_id = $1 AND c.name = l.agent_class
      AND l.agent_count < COALESCE(c.max_agents, $4) AND p.depth <= COALESCE(c.max_depth, $5)
    RETURNING l.session_id, p.depth
)
INSERT INTO policy.session_agents (agent_id, session_id, parent_agent_id, depth)
SELECT $2, session_id, NULLIF($3, ''), depth FROM admitted
RETURNING depth;

-- name: spawn_limits
-- Why admit_agent refused: the count, the limits, the depth the child would have.
SELECT l.agent_count, COALESCE(c.max_agents, $3) AS max_agents, COALESCE(c.max_depth, $4) AS max_depth,
       CASE WHEN $2 = '' THEN 0
            ELSE COALESCE((SELECT depth FROM policy.session_agents WHERE session_id = $1 AND agent_id = $2), 0) + 1
       END AS depth
FROM policy.cost_ledger l JOIN policy.agent_classes c ON c.name = l.agent_class
WHERE l.session_id = $1;

-- name: reserve
-- The ceiling check and the reservation are one statement: concurrent callers
-- serialize on the ledger row and none can reserve past the ceiling.
WITH reserved AS (
    UPDATE policy.cost_ledger SET reserved_usd = reserved_usd + $2
    WHERE session_id = $1 AND spent_usd + reserved_usd + $2 <= ceiling_usd
    RETURNING session_id, reserved_usd, spent_usd, ceiling_usd
), recorded AS (
    INSERT INTO policy.syscalls (syscall_id, session_id, agent_id, token_jti, kind, target, model, reserved_usd)
    SELECT $3, session_id, $4, $5, $6, $7, $8, $2 FROM reserved
    RETURNING syscall_id
)
SELECT r.reserved_usd, r.spent_usd, r.ceiling_usd FROM reserved r, recorded;

-- name: insert_syscall
INSERT INTO policy.syscalls (syscall_id, session_id, agent_id, token_jti, kind, target, args_hash, approval_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: get_syscall
SELECT syscall_id::text AS syscall_id, session_id::text AS session_id, agent_id, kind, target, model,
       reserved_usd, cost_usd, reported_usd, completed_at IS NOT NULL AS completed
FROM policy.syscalls WHERE syscall_id = $1;

-- name: settlement
-- What Complete reads, in one round trip: the syscall, and the record of the
-- token that settles it (its own record: settling checks that policy minted
-- the token, not whether it was revoked since).
SELECT s.syscall_id::text AS syscall_id, s.session_id::text AS session_id, s.agent_id, s.kind, s.target, s.model,
       s.reserved_usd, s.cost_usd, s.completed_at IS NOT NULL AS completed,
       t.jti AS caller_jti, t.parent_jti AS caller_parent_jti, t.kid AS caller_kid, t.subject AS caller_subject,
       t.kind AS caller_kind, t.caps AS caller_caps, t.backends AS caller_backends,
       t.session_id::text AS caller_session_id, t.agent_id AS caller_agent_id, t.agent_class AS caller_agent_class,
       t.cost_ceiling_usd AS caller_cost_ceiling_usd, extract(epoch FROM t.issued_at)::bigint AS caller_issued_at,
       extract(epoch FROM t.expires_at)::bigint AS caller_expires_at, t.revoked AS caller_revoked
FROM (SELECT) AS one
LEFT JOIN policy.syscalls s ON s.syscall_id = $1
LEFT JOIN policy.capability_tokens t ON t.jti = $2;

-- name: settle
-- Settles once: a second Complete for the same syscall matches no row. $6 is the
-- cost the provider reported; the charge is never more than was reserved, so
-- spent + reserved stays within the ceiling whatever the provider sends.
WITH done AS (
    UPDATE policy.syscalls SET completed_at = now(), ok = $3, error = $4, result_digest = $5,
                        reported_usd = $6, cost_usd = LEAST($6, reserved_usd)
    WHERE syscall_id = $1 AND agent_id = $2 AND completed_at IS NULL
    RETURNING session_id, reserved_usd, cost_usd
)
UPDATE policy.cost_ledger l SET spent_usd = l.spent_usd + done.cost_usd,
                         reserved_usd = l.reserved_usd - done.reserved_usd
FROM done WHERE l.session_id = done.session_id
RETURNING l.spent_usd, done.cost_usd AS charged_usd;

-- name: upsert_tool
-- reversible only ever moves towards false (the trigger refuses the reverse too).
INSERT INTO policy.tools (name, reversible, blast_radius, idempotent, args_schema_json, definition_hash, open_world)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (name) DO UPDATE SET
    reversible = tools.reversible AND EXCLUDED.reversible,
    blast_radius = EXCLUDED.blast_radius,
    idempotent = EXCLUDED.idempotent,
    args_schema_json = EXCLUDED.args_schema_json,
    definition_hash = EXCLUDED.definition_hash,
    open_world = EXCLUDED.open_world,
    updated_at = now()
RETURNING reversible;

-- name: get_tool
SELECT name, reversible, blast_radius, idempotent, definition_hash, open_world FROM policy.tools WHERE name = $1;

-- name: expire_stale_approvals
UPDATE policy.approvals SET state = 'expired' WHERE state = 'pending' AND expires_at <= now()
RETURNING approval_id::text AS approval_id, session_id::text AS session_id, agent_id, tool, args_hash;

-- name: insert_approval
INSERT INTO policy.approvals (approval_id, agent_id, session_id, tool, args_canonical, args_hash, blast_radius,
                              evidence, capability_scope, requested_jti, expires_at, arg_provenance, judge,
                              approvals_required, excluded_approvers)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, now() + make_interval(secs => $11), $12::jsonb, $13::jsonb,
        $14, $15)
ON CONFLICT (agent_id, tool, args_hash) WHERE state = 'pending' DO NOTHING
RETURNING approval_id::text AS approval_id;

-- name: pending_approval
SELECT approval_id::text AS approval_id FROM policy.approvals
WHERE agent_id = $1 AND tool = $2 AND args_hash = $3 AND state = 'pending';

-- name: get_approval
SELECT approval_id::text AS approval_id, agent_id, session_id::text AS session_id, tool, args_canonical,
       args_hash, blast_radius, evidence::text AS evidence, arg_provenance::text AS arg_provenance,
       capability_scope, state, decided_by,
       decided_jti, reason, created_at, decided_at, expires_at, expires_at <= now() AS past_expiry,
       judge::text AS judge, approvals_required, excluded_approvers,
       (SELECT coalesce(json_agg(json_build_object('subject', v.subject, 'jti', v.jti,
                                                   'at', extract(epoch FROM v.approved_at))
                                 ORDER BY v.approved_at, v.subject), '[]')
        FROM policy.approval_approvers v WHERE v.approval_id = a.approval_id)::text AS approvers
FROM policy.approvals a WHERE approval_id = $1;

-- name: lock_approval
-- Without its approvers: a subquery here would read them as of the statement's
-- start, before the lock was granted; they are read after it (approvers_of).
SELECT approval_id::text AS approval_id, agent_id, session_id::text AS session_id, tool, args_canonical,
       args_hash, blast_radius, state, expires_at <= now() AS past_expiry, approvals_required, excluded_approvers
FROM policy.approvals WHERE approval_id = $1 FOR UPDATE;

-- name: list_approvals
SELECT approval_id::text AS approval_id, agent_id, session_id::text AS session_id, tool, args_canonical,
       args_hash, blast_radius, evidence::text AS evidence, arg_provenance::text AS arg_provenance,
       capability_scope, state, decided_by,
       decided_jti, reason, created_at, decided_at, expires_at, expires_at <= now() AS past_expiry,
       judge::text AS judge, approvals_required, excluded_approvers,
       (SELECT coalesce(json_agg(json_build_object('subject', v.subject, 'jti', v.jti,
                                                   'at', extract(epoch FROM v.approved_at))
                                 ORDER BY v.approved_at, v.subject), '[]')
        FROM policy.approval_approvers v WHERE v.approval_id = a.approval_id)::text AS approvers
FROM policy.approvals a
WHERE ($1 = '' OR state = $1) AND ($2::uuid IS NULL OR session_id = $2::uuid)
ORDER BY created_at DESC LIMIT $3;

-- name: decide_approval
UPDATE policy.approvals SET state = $2, decided_by = $3, decided_jti = $4, reason = $5, decided_at = now()
WHERE approval_id = $1 AND state = 'pending'
RETURNING approval_id;

-- name: approvers_of
-- Run under the approval's row lock (lock_approval): a new statement, so it sees
-- every approver committed before the lock was granted.
SELECT subject, jti FROM policy.approval_approvers WHERE approval_id = $1 ORDER BY approved_at, subject;

-- name: add_approver
-- A subject counts once per approval (the primary key); nothing returned: it already had.
INSERT INTO policy.approval_approvers (approval_id, subject, jti) VALUES ($1, $2, $3)
ON CONFLICT (approval_id, subject) DO NOTHING
RETURNING subject;

-- name: agent_spawners
-- Who started the agent's tree: the operator nearest above the agent's token ($1),
-- and the one nearest above the first token minted for the agent ($2), before any
-- renewal. The walk goes up through agents (parents) and stops at an operator.
WITH RECURSIVE lineage AS (
    SELECT t.jti, t.parent_jti, t.subject, t.kind, 0 AS depth
    FROM policy.capability_tokens t
    WHERE t.jti = $1 OR t.jti = (SELECT f.jti FROM policy.capability_tokens f
                                 WHERE f.agent_id = $2 AND f.kind = 'agent' ORDER BY f.recorded_at LIMIT 1)
    UNION ALL
    SELECT p.jti, p.parent_jti, p.subject, p.kind, l.depth + 1
    FROM policy.capability_tokens p JOIN lineage l ON p.jti = l.parent_jti
    WHERE l.kind = 'agent' AND l.depth < 64
)
SELECT DISTINCT subject FROM lineage WHERE kind <> 'agent' ORDER BY subject;

-- name: consume_approval
-- Single use: only an approved row becomes consumed, once.
UPDATE policy.approvals SET state = 'consumed', consumed_at = now(), consumed_syscall_id = $5
WHERE approval_id = $1 AND agent_id = $2 AND tool = $3 AND args_hash = $4 AND state = 'approved'
RETURNING session_id::text AS session_id;
