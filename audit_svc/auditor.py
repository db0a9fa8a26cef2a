"""The audit service's operations, independent of gRPC: append, read, verify."""

from __future__ import annotations

from contextlib import aclosing
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from aos_common.errors import Unavailable
from audit_svc.anchor_store import AnchorStore, AnchorStoreError
from audit_svc.anchorer import Anchorer
from audit_svc.chain import Actor, new_event, parse_session_id
from audit_svc.store import AuditStore
from audit_svc.verify import ChainEntry, ChainVerifier, Trusted, VerifyResult, check_anchor_objects


class Auditor:
    def __init__(
        self,
        store: AuditStore,
        anchor_store: AnchorStore,
        anchorer: Anchorer,
        public_keys: dict[str, Ed25519PublicKey],
    ):
        self._store = store
        self._anchor_store = anchor_store
        self._anchorer = anchorer
        self._public_keys = public_keys

    async def append(self, session_id: str, event_type: str, actor: Actor, payload_json: str) -> tuple[int, bytes]:
        event = new_event(session_id, event_type, actor, payload_json, datetime.now(UTC))
        seq, digest = await self._store.append(event)
        self._anchorer.note_append(event.session_id)
        return seq, digest

    async def events(self, session_id: str, after_seq: int, limit: int) -> list[ChainEntry]:
        return await self._store.events(parse_session_id(session_id), after_seq, limit)

    async def anchors(self, session_id: str) -> list[bytes]:
        """The session's anchor objects as the anchor store holds them."""
        try:
            return await self._anchor_store.list_session(parse_session_id(session_id))
        except AnchorStoreError as exc:
            # Answering without the anchors would silently lose what they prove.
            raise Unavailable(f"cannot read anchors: {exc}") from exc

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        return dict(self._public_keys)

    async def verify(self, session_id: str, trusted: Trusted | None = None) -> VerifyResult:
        """Check the chain as stored against the anchors as the anchor store holds them."""
        session = parse_session_id(session_id)
        bodies = await self.anchors(session)
        anchors = check_anchor_objects(session, bodies, self._public_keys)
        verifier = ChainVerifier(session, anchors, datetime.now(UTC), trusted)
        after = trusted.chain_seq - 1 if trusted else 0
        async with aclosing(self._store.stream_events(session, after_seq=after)) as pages:
            async for batch in pages:
                verifier.feed(batch)
        return verifier.result()
