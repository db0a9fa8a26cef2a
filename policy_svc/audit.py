"""Appending policy's decisions to the audit chain, through the one audit
writer (aos_common/audit_writer.py), in the name of whoever's call was decided.

Every append is awaited before the caller is answered; a failed append
becomes UNAVAILABLE, and callers roll back whatever they were about to make
effective, so no effect exists without its audit record.
"""

from __future__ import annotations

from typing import Any

import grpc

from aos.v1 import audit_internal_pb2_grpc as pb_grpc
from aos_common.audit_writer import AuditWriter
from aos_common.tokens import Claims

SERVICE = "policy"


class AuditLog:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._writer = AuditWriter(pb_grpc.AuditWriterServiceStub(channel), SERVICE)

    async def append(self, session_id: str, event_type: str, actor: Claims | None, payload: dict[str, Any]) -> int:
        """Append one event caused by `actor` (None: policy's own doing, e.g. an
        expiry); return its chain_seq. Raises Unavailable on any failure."""
        return await self._writer.append(session_id, event_type, payload, subject=actor.subject if actor else "",
                                         jti=actor.jti if actor else "")
