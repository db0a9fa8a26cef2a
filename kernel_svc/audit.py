"""Kernel-originated audit events (injection detections, ungrounded agents,
the states an agent ends or stops in, operator cancellations).

Syscall decisions and completions are audited by policy; these are the events
only the kernel can see.
"""

from __future__ import annotations

import json
from typing import Any

from aos.v1 import audit_internal_pb2 as audit_pb
from aos.v1 import audit_internal_pb2_grpc as audit_grpc
from aos.v1 import common_pb2
from aos_common.canonical import sha256_hex
from aos_common.rpc import call
from aos_common.tokens import Claims
from kernel_svc.process import AgentProcess

SERVICE = "kernel"


class AuditClient:
    def __init__(self, stub: audit_grpc.AuditWriterServiceStub, timeout_s: float = 10.0):
        self._stub = stub
        self._timeout_s = timeout_s

    async def append(
        self, session_id: str, event_type: str, agent_id: str, token_jti: str, payload: dict[str, Any]
    ) -> int:
        """Append one event the agent caused; Unavailable when audit cannot take it."""
        actor = common_pb2.Actor(service=SERVICE, subject=f"agent:{agent_id}", jti=token_jti)
        return await self._append(session_id, event_type, actor, payload)

    async def append_for_operator(
        self, session_id: str, event_type: str, operator: Claims, payload: dict[str, Any]
    ) -> int:
        """Append one event an operator caused, in the operator's name."""
        actor = common_pb2.Actor(service=SERVICE, subject=operator.subject, jti=operator.jti)
        return await self._append(session_id, event_type, actor, payload)

    async def _append(self, session_id: str, event_type: str, actor: common_pb2.Actor,
                      payload: dict[str, Any]) -> int:
        request = audit_pb.AppendEventRequest(
            session_id=session_id,
            event_type=event_type,
            actor=actor,
            payload_json=json.dumps(payload, sort_keys=True),
        )
        response = await call(self._stub.AppendEvent(request, timeout=self._timeout_s), "audit")
        return response.chain_seq


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
