-- Every statement the audit service runs, loaded once by store.py. Values are
-- always bind parameters.

-- name: append_event
-- Lock, tail, hash and insert in one round trip (audit.append_event, migrations/0002_audit.sql).
SELECT chain_seq, hash FROM audit.append_event($1, $2, $3, $4)

-- name: select_events
SELECT chain_seq, event_type, record, prev_hash, hash
  FROM audit.audit_events
 WHERE session_id = $1 AND chain_seq > $2
 ORDER BY chain_seq, hash
 LIMIT $3

-- name: stream_events
-- Verification reads through a cursor in the primary key's order: every row
-- exactly once, even duplicated chain_seq values in a tampered table (whose
-- order among themselves does not change the verdict), with no sort.
SELECT chain_seq, event_type, record, prev_hash, hash
  FROM audit.audit_events
 WHERE session_id = $1 AND chain_seq > $2
 ORDER BY chain_seq

-- name: lock_anchoring
-- Anchoring one session is serialized across replicas by its own advisory key
-- (distinct seed from appends), so two anchorers can never fork the anchor chain.
SELECT pg_advisory_xact_lock(hashtextextended($1::text, 7024))

-- name: last_anchor
SELECT chain_seq, anchor_hash
  FROM audit.audit_anchors
 WHERE session_id = $1
 ORDER BY chain_seq DESC
 LIMIT 1

-- name: head
SELECT chain_seq, hash
  FROM audit.audit_events
 WHERE session_id = $1
 ORDER BY chain_seq DESC
 LIMIT 1

-- name: insert_anchor
INSERT INTO audit.audit_anchors
    (session_id, chain_seq, head_hash, anchor_hash, prev_anchor_hash, object_key, document, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)

-- name: pending_anchors
SELECT session_id, chain_seq, object_key, document
  FROM audit.audit_anchors
 WHERE stored_at IS NULL
 ORDER BY created_at, chain_seq
 LIMIT $1

-- name: mark_stored
UPDATE audit.audit_anchors SET stored_at = now() WHERE session_id = $1 AND chain_seq = $2

-- name: count_pending
SELECT count(*) FROM audit.audit_anchors WHERE stored_at IS NULL

-- name: unanchored_sessions
-- Sessions whose head is past their newest anchor: what a restarted anchorer must pick up.
SELECT e.session_id, e.head - coalesce(a.anchored, 0) AS pending
  FROM (SELECT session_id, max(chain_seq) AS head FROM audit.audit_events GROUP BY session_id) e
  LEFT JOIN (SELECT session_id, max(chain_seq) AS anchored FROM audit.audit_anchors GROUP BY session_id) a
       USING (session_id)
 WHERE e.head > coalesce(a.anchored, 0)
