"""Kernel-originated audit events (injection detections, ungrounded agents,
the states an agent ends or stops in, operator cancellations).

Syscall decisions and completions are audited by policy; these are the events
only the kernel can see. Both write through aos_common/audit_writer.py.
"""

from __future__ import annotations

from typing import Any

from aos.v1 import audit_internal_pb2_grpc as audit_grpc
from aos_common.audit_writer import AuditWriter
from aos_common.canonical import sha256_hex
from aos_common.tokens import Claims
from kernel_svc.process import AgentProcess

SERVICE = "kernel"


class AuditClient:
    """The kernel's events, each in the name of the agent or operator that caused it."""

    def __init__(self, stub: audit_grpc.AuditWriterServiceStub) -> None:
        self._writer = AuditWriter(stub, SERVICE)

    async def append(
        self, session_id: str, event_type: str, agent_id: str, token_jti: str, payload: dict[str, Any]
    ) -> int:
        """Append one event the agent caused; Unavailable when audit cannot take it."""
        return await self._writer.append(session_id, event_type, payload, subject=f"agent:{agent_id}", jti=token_jti)

    async def append_own(self, session_id: str, event_type: str, payload: dict[str, Any]) -> int:
        """Append one event the kernel itself observed (no agent or operator caused it)."""
        return await self._writer.append(session_id, event_type, payload)

    async def append_for_operator(
        self, session_id: str, event_type: str, operator: Claims, payload: dict[str, Any]
    ) -> int:
        """Append one event an operator caused, in the operator's name."""
        return await self._writer.append(session_id, event_type, payload, subject=operator.subject, jti=operator.jti)


def state_change(before: AgentProcess, after: AgentProcess) -> dict[str, Any]:
    """The AGENT_STATE_CHANGED payload. A result is bound by its SHA-256, so the
    answer the process table shows can be checked against the chain."""
    payload: dict[str, Any] = {
        "agent_id": after.id,
        "from_state": before.state,
        "to_state": after.state,
        "reason": after.error_reason,
    }
    if after.result:
        payload["result_sha256"] = sha256_hex(after.result.encode())
    return payload
