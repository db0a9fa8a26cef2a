-- The audit service's per-session hash chains and their anchors (schema `audit`).
--
-- aos_audit may read and append, nothing more. Rows are never changed or
-- removed: no grant allows it and a trigger refuses it for every role, so
-- only a superuser who first disables the trigger can tamper, and that is
-- what verification against the anchors detects (docs/AUDIT.md).

CREATE TABLE audit.audit_events (
    session_id uuid NOT NULL,
    chain_seq integer NOT NULL CHECK (chain_seq >= 1),
    event_type text NOT NULL,
    -- The exact RFC 8785 bytes the hash covers; readers parse actor, payload
    -- and created_at from here, never from a side column.
    record bytea NOT NULL,
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (session_id, chain_seq)
);

-- hash = SHA-256("aosiq.audit.v1" 0x00 || prev_hash || int8 big-endian chain_seq || record);
-- the first entry's prev_hash is SHA-256("aosiq.audit.genesis.v1" 0x00 || session id text).
-- audit_svc/chain.py computes the same formula; a test holds the two equal.
--
-- One round trip per append: lock the session's chain (transaction-scoped, so
-- sessions never wait for each other), read its tail, hash, insert.
CREATE FUNCTION audit.append_event(
    p_session_id uuid,
    p_event_type text,
    p_record bytea,
    p_created_at timestamptz
) RETURNS TABLE (chain_seq integer, hash bytea)
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

-- Signed checkpoints of chain heads. A row is made when the anchorer decides
-- to anchor; `stored_at` is set once the anchor store has accepted the
-- document, so rows with stored_at NULL are the backlog.
CREATE TABLE audit.audit_anchors (
    session_id uuid NOT NULL,
    chain_seq integer NOT NULL CHECK (chain_seq >= 1),
    head_hash bytea NOT NULL,
    -- SHA-256 over the checkpoint bytes; the next anchor links to it.
    anchor_hash bytea NOT NULL UNIQUE,
    prev_anchor_hash bytea,
    object_key text NOT NULL UNIQUE,
    -- The signed object exactly as written to the store.
    document bytea NOT NULL,
    created_at timestamptz NOT NULL,
    stored_at timestamptz,
    PRIMARY KEY (session_id, chain_seq)
);

CREATE INDEX audit_anchors_backlog ON audit.audit_anchors (created_at) WHERE stored_at IS NULL;

CREATE FUNCTION audit.refuse_change() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'audit.% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit.audit_events
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit.audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();

-- Anchors may only gain their stored_at, once.
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

CREATE TRIGGER audit_anchors_append_only
    BEFORE UPDATE OR DELETE ON audit.audit_anchors
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_anchor_change();
CREATE TRIGGER audit_anchors_no_truncate
    BEFORE TRUNCATE ON audit.audit_anchors
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();

REVOKE ALL ON audit.audit_events, audit.audit_anchors FROM PUBLIC;
REVOKE ALL ON FUNCTION audit.append_event(uuid, text, bytea, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit.refuse_change(), audit.refuse_anchor_change() FROM PUBLIC;

GRANT SELECT, INSERT ON audit.audit_events TO aos_audit;
GRANT EXECUTE ON FUNCTION audit.append_event(uuid, text, bytea, timestamptz) TO aos_audit;
GRANT SELECT, INSERT ON audit.audit_anchors TO aos_audit;
GRANT UPDATE (stored_at) ON audit.audit_anchors TO aos_audit;
