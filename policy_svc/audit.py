"""Appending policy's decisions to the audit chain.

Every append is awaited before the caller is answered; a failed append
becomes UNAVAILABLE, and callers roll back whatever they were about to make
effective, so no effect exists without its audit record.
"""

from __future__ import annotations

import logging
from typing import Any

import grpc

from aos.v1 import audit_internal_pb2 as pb
from aos.v1 import audit_internal_pb2_grpc as pb_grpc
from aos.v1 import common_pb2
from aos_common.canonical import canonical_json
from aos_common.errors import AosError, Unavailable
from aos_common.logs import log_fields
from aos_common.rpc import call
from aos_common.tokens import Claims

log = logging.getLogger(__name__)

SERVICE = "policy"
APPEND_TIMEOUT_SECONDS = 5.0


class AuditLog:
    def __init__(self, channel: grpc.aio.Channel):
        self._stub = pb_grpc.AuditWriterServiceStub(channel)

    async def append(self, session_id: str, event_type: str, actor: Claims | None, payload: dict[str, Any]) -> int:
        """Append one event; return its chain_seq. Raises Unavailable on any failure."""
        request = pb.AppendEventRequest(
            session_id=session_id,
            event_type=event_type,
            actor=common_pb2.Actor(
                service=SERVICE,
                subject=actor.subject if actor else "",
                jti=actor.jti if actor else "",
            ),
            payload_json=canonical_json(payload).decode(),
        )
        try:
            response = await call(self._stub.AppendEvent(request, timeout=APPEND_TIMEOUT_SECONDS), "audit")
        except AosError as error:
            log.warning("audit append failed", extra=log_fields(event_type=event_type, session_id=session_id,
                                                                  reason=error.reason))
            raise Unavailable("the audit service could not record this decision; nothing was done") from None
        return response.chain_seq
