"""The one client that appends events to the audit chain (`AuditWriterService`).

Kernel and policy both write through it: one serialisation (RFC 8785, the form
the chain hashes), one timeout, one failure type. Every append is awaited
before the caller goes on; any failure becomes `Unavailable`, and the caller
rolls back whatever it was about to make effective, so no effect exists without
its audit record.
"""

from __future__ import annotations

import logging
from typing import Any

from aos.v1 import audit_internal_pb2 as pb
from aos.v1 import audit_internal_pb2_grpc as pb_grpc
from aos.v1 import common_pb2
from aos_common.canonical import canonical_json
from aos_common.errors import AosError, Unavailable
from aos_common.logs import log_fields
from aos_common.rpc import call

log = logging.getLogger(__name__)

APPEND_TIMEOUT_SECONDS = 5.0


class AuditWriter:
    """Appends events in the name of one service (`service` on each event's actor)."""

    def __init__(self, stub: pb_grpc.AuditWriterServiceStub, service: str) -> None:
        self._stub = stub
        self._service = service

    async def append(
        self, session_id: str, event_type: str, payload: dict[str, Any], *, subject: str = "", jti: str = ""
    ) -> int:
        """Append one event caused by `subject` (holding token `jti`; both empty
        for the service's own doing) and return its chain_seq. Raises
        Unavailable when audit does not take it, InvalidArgument (before any
        call) for a payload JSON cannot carry exactly."""
        request = pb.AppendEventRequest(
            session_id=session_id,
            event_type=event_type,
            actor=common_pb2.Actor(service=self._service, subject=subject, jti=jti),
            payload_json=canonical_json(payload).decode(),
        )
        try:
            response = await call(self._stub.AppendEvent(request, timeout=APPEND_TIMEOUT_SECONDS), "audit")
        except AosError as error:
            log.warning("audit append failed", extra=log_fields(event_type=event_type, session_id=session_id,
                                                                  reason=error.reason))
            raise Unavailable("the audit service could not record this event; nothing was done") from None
        return response.chain_seq
