"""gRPC servicers: protobuf in, domain calls, protobuf out.

AuditWriterService is internal (policy and kernel append through it; the
gateway never exposes it). AuditService is public and needs a caller token
holding `audit.read`; the token is verified here again, never taken on the
gateway's word.
"""

from __future__ import annotations

import re
from datetime import datetime

import grpc
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from google.protobuf import json_format, struct_pb2

from aos.v1 import audit_internal_pb2 as internal_pb
from aos.v1 import audit_internal_pb2_grpc as internal_grpc
from aos.v1 import audit_pb2 as pb
from aos.v1 import audit_pb2_grpc as pb_grpc
from aos.v1 import common_pb2, health_pb2, status_pb2, status_pb2_grpc
from aos_common.capabilities import PERM_AUDIT_READ, allows
from aos_common.errors import InsufficientAuthority, InvalidArgument
from aos_common.tls import peer_service
from aos_common.verifier import TokenVerifier, caller_claims
from audit_svc.anchorer import Anchorer
from audit_svc.auditor import Auditor
from audit_svc.chain import Actor, parse_session_id, read_record
from audit_svc.verify import ChainEntry, Trusted

DEFAULT_PAGE = 1000
MAX_PAGE = 10000
HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def event_message(session_id: str, entry: ChainEntry) -> pb.AuditEvent:
    """A stored entry as readers see it: actor, payload and time come from the hashed record."""
    message = pb.AuditEvent(
        session_id=session_id,
        chain_seq=entry.chain_seq,
        event_type=entry.event_type,
        prev_hash=entry.prev_hash.hex(),
        hash=entry.hash.hex(),
        # A damaged record must still be shown (and fail verification), not break the read.
        record=entry.record.decode("utf-8", errors="replace"),
    )
    view = read_record(entry.record)
    if view is None:
        return message
    if view.actor is not None:
        message.actor.CopyFrom(
            common_pb2.Actor(service=view.actor.service, subject=view.actor.subject, jti=view.actor.jti)
        )
    payload = struct_pb2.Struct()
    json_format.ParseDict(view.payload, payload)
    message.payload.CopyFrom(payload)
    try:
        message.created_at.FromDatetime(datetime.fromisoformat(view.created_at))
    except ValueError:
        pass  # left unset: the record's time is not one we wrote
    return message


class AuditWriterServicer(internal_grpc.AuditWriterServiceServicer):
    def __init__(self, auditor: Auditor):
        self._auditor = auditor

    async def AppendEvent(
        self, request: internal_pb.AppendEventRequest, context: grpc.aio.ServicerContext
    ) -> internal_pb.AppendEventResponse:
        caller = peer_service(context)
        if caller is not None and request.actor.service != caller:
            # Over mutual TLS the record's service is the caller's certificate, not its word.
            raise InsufficientAuthority(f"the {caller} service cannot append in {request.actor.service!r}'s name")
        actor = Actor(request.actor.service, request.actor.subject, request.actor.jti)
        seq, digest = await self._auditor.append(request.session_id, request.event_type, actor, request.payload_json)
        return internal_pb.AppendEventResponse(chain_seq=seq, hash=digest.hex())


class AuditServicer(pb_grpc.AuditServiceServicer):
    def __init__(self, auditor: Auditor, verifier: TokenVerifier, auth_mode: str):
        self._auditor = auditor
        self._verifier = verifier
        self._auth_mode = auth_mode

    async def _authorize(self, context: grpc.aio.ServicerContext) -> None:
        claims = await caller_claims(context, self._verifier, self._auth_mode)
        if not allows(claims.capabilities, PERM_AUDIT_READ):
            raise InsufficientAuthority(f"reading the audit chain needs the {PERM_AUDIT_READ!r} permission")

    async def ListAuditEvents(
        self, request: pb.ListAuditEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAuditEventsResponse:
        await self._authorize(context)
        if request.after_seq < 0:
            raise InvalidArgument("after_seq must not be negative")
        if not 0 <= request.limit <= MAX_PAGE:
            raise InvalidArgument(f"limit must be at most {MAX_PAGE} (0 means {DEFAULT_PAGE})")
        session_id = parse_session_id(request.session_id)
        limit = request.limit or DEFAULT_PAGE
        entries = await self._auditor.events(session_id, request.after_seq, limit + 1)
        more = len(entries) > limit
        entries = entries[:limit]
        return pb.ListAuditEventsResponse(
            events=[event_message(session_id, entry) for entry in entries],
            next_after_seq=entries[-1].chain_seq if more else 0,
        )

    async def ListAnchors(
        self, request: pb.ListAnchorsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAnchorsResponse:
        await self._authorize(context)
        bodies = await self._auditor.anchors(request.session_id)
        keys = {kid: key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
                for kid, key in self._auditor.public_keys().items()}
        # Anchors are UTF-8 JSON; an object that is not is passed on (mangled, so
        # still invalid) for the verifier to flag, never dropped.
        documents = [body.decode("utf-8", errors="replace") for body in bodies]
        return pb.ListAnchorsResponse(anchors=documents, public_keys=keys)

    async def VerifySession(
        self, request: pb.VerifySessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifySessionResponse:
        await self._authorize(context)
        trusted = None
        if request.trusted_seq < 0:
            raise InvalidArgument("trusted_seq must not be negative")
        if request.trusted_seq > 0:
            if not HEX_DIGEST.match(request.trusted_hash):
                raise InvalidArgument("trusted_hash must be 64 lower-case hex digits")
            trusted = Trusted(request.trusted_seq, bytes.fromhex(request.trusted_hash))
        elif request.trusted_hash:
            raise InvalidArgument("trusted_hash needs trusted_seq")
        result = await self._auditor.verify(request.session_id, trusted)
        return pb.VerifySessionResponse(
            ok=result.ok,
            length=result.length,
            head_hash=result.head_hash.hex(),
            first_bad_seq=result.first_bad_seq,
            anchors_checked=result.anchors_checked,
            unanchored_entries=result.unanchored_entries,
            unanchored_seconds=result.unanchored_seconds,
            problem=result.problem,
        )


class StatusServicer(status_pb2_grpc.StatusServiceServicer):
    def __init__(self, anchorer: Anchorer):
        self._anchorer = anchorer

    async def GetStatus(
        self, request: status_pb2.GetStatusRequest, context: grpc.aio.ServicerContext
    ) -> status_pb2.GetStatusResponse:
        stats = self._anchorer.stats()
        anchors = health_pb2.AnchorStats(
            successes=stats.successes, failures=stats.failures, store=stats.store, backlog=stats.backlog
        )
        if stats.last_success_at is not None:
            anchors.last_success_at.FromDatetime(stats.last_success_at)
        return status_pb2.GetStatusResponse(service="audit", anchors=anchors)
