"""The dashboard's calls to policy, kernel and audit, each made with the operator's own token.

The dashboard has no credential of its own: every call carries the signed-in
operator's bearer token and the backend decides what that operator may see or do.
Failures arrive as `AosError` (via `aos_common.rpc.call`) with the contract's reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from aos.v1 import (
    agents_pb2,
    agents_pb2_grpc,
    approvals_pb2,
    approvals_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    tool_servers_pb2,
    tool_servers_pb2_grpc,
)
from aos_common.rpc import DEFAULT_TIMEOUT_SECONDS, bearer_metadata, call, channel
from aos_common.tls import ServiceTls

# Verification reads the whole chain and its anchors, so it gets longer than a lookup.
VERIFY_TIMEOUT_SECONDS = 60.0
PENDING_LIMIT = 500
RECENT_LIMIT = 200
AUDIT_PAGE = 1000
# A session page stops here and says so; beyond it, `aosiq audit export` is the tool.
AUDIT_EVENTS_SHOWN = 10_000

DECIDED_STATES = frozenset({"approved", "denied", "expired", "consumed"})


@dataclass(frozen=True)
class AuditTrail:
    events: list[audit_pb2.AuditEvent]
    # False when the page stopped at AUDIT_EVENTS_SHOWN and more events exist.
    complete: bool


class Backends:
    """Stubs for the three backends; channels open on first use, inside the serving event loop."""

    def __init__(
        self, *, kernel_address: str, policy_address: str, audit_address: str, identity: ServiceTls | None = None
    ):
        self._addresses = {"kernel": kernel_address, "policy": policy_address, "audit": audit_address}
        self._identity = identity
        self._channels: dict[str, grpc.aio.Channel] = {}

    def _channel(self, backend: str) -> grpc.aio.Channel:
        if backend not in self._channels:
            self._channels[backend] = channel(self._addresses[backend], self._identity)
        return self._channels[backend]

    def _approvals(self) -> approvals_pb2_grpc.ApprovalServiceStub:
        return approvals_pb2_grpc.ApprovalServiceStub(self._channel("policy"))

    def _tool_servers(self) -> tool_servers_pb2_grpc.ToolServerServiceStub:
        return tool_servers_pb2_grpc.ToolServerServiceStub(self._channel("kernel"))

    async def tool_servers(self, token: str) -> list[tool_servers_pb2.ToolServer]:
        reply = await call(self._tool_servers().ListToolServers(
            tool_servers_pb2.ListToolServersRequest(), metadata=bearer_metadata(token),
            timeout=DEFAULT_TIMEOUT_SECONDS), "kernel")
        return list(reply.tool_servers)

    async def tool_server(self, token: str, name: str) -> tool_servers_pb2.ToolServer:
        reply = await call(self._tool_servers().GetToolServer(
            tool_servers_pb2.GetToolServerRequest(name=name), metadata=bearer_metadata(token),
            timeout=DEFAULT_TIMEOUT_SECONDS), "kernel")
        return reply.tool_server

    async def approve_definitions(self, token: str, name: str, definitions_hash: str) -> tool_servers_pb2.ToolServer:
        request = tool_servers_pb2.ApproveToolDefinitionsRequest(name=name, definitions_hash=definitions_hash)
        reply = await call(self._tool_servers().ApproveToolDefinitions(
            request, metadata=bearer_metadata(token), timeout=DEFAULT_TIMEOUT_SECONDS), "kernel")
        return reply.tool_server

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for open_channel in channels:
            await open_channel.close()

    async def check_token(self, token: str) -> None:
        """A cheap authenticated call, so a bad token is refused at sign-in rather than on first use."""
        request = approvals_pb2.ListApprovalsRequest(state="pending", limit=1)
        await call(
            self._approvals().ListApprovals(request, metadata=bearer_metadata(token), timeout=DEFAULT_TIMEOUT_SECONDS),
            "policy",
        )

    async def pending_approvals(self, token: str) -> list[approvals_pb2.Approval]:
        request = approvals_pb2.ListApprovalsRequest(state="pending", limit=PENDING_LIMIT)
        reply = await call(
            self._approvals().ListApprovals(request, metadata=bearer_metadata(token), timeout=DEFAULT_TIMEOUT_SECONDS),
            "policy",
        )
        return sorted(reply.approvals, key=lambda a: a.created_at.ToNanoseconds())

    async def recently_decided(self, token: str, limit: int = 20) -> list[approvals_pb2.Approval]:
        request = approvals_pb2.ListApprovalsRequest(limit=RECENT_LIMIT)
        reply = await call(
            self._approvals().ListApprovals(request, metadata=bearer_metadata(token), timeout=DEFAULT_TIMEOUT_SECONDS),
            "policy",
        )
        decided = [a for a in reply.approvals if a.state in DECIDED_STATES]
        decided.sort(key=lambda a: a.decided_at.ToNanoseconds(), reverse=True)
        return decided[:limit]

    async def approval(self, token: str, approval_id: str) -> approvals_pb2.Approval:
        request = approvals_pb2.GetApprovalRequest(approval_id=approval_id)
        reply = await call(
            self._approvals().GetApproval(request, metadata=bearer_metadata(token), timeout=DEFAULT_TIMEOUT_SECONDS),
            "policy",
        )
        return reply.approval

    async def approve(self, token: str, approval_id: str, args_hash: str) -> approvals_pb2.Approval:
        request = approvals_pb2.ApproveRequest(approval_id=approval_id, args_hash=args_hash)
        reply = await call(
            self._approvals().Approve(request, metadata=bearer_metadata(token), timeout=DEFAULT_TIMEOUT_SECONDS),
            "policy",
        )
        return reply.approval

    async def deny(self, token: str, approval_id: str, reason: str) -> approvals_pb2.Approval:
        request = approvals_pb2.DenyRequest(approval_id=approval_id, reason=reason)
        reply = await call(
            self._approvals().Deny(request, metadata=bearer_metadata(token), timeout=DEFAULT_TIMEOUT_SECONDS),
            "policy",
        )
        return reply.approval

    async def agent(self, token: str, agent_id: str) -> agents_pb2.Agent:
        stub = agents_pb2_grpc.AgentServiceStub(self._channel("kernel"))
        request = agents_pb2.GetAgentRequest(agent_id=agent_id)
        reply = await call(
            stub.GetAgent(request, metadata=bearer_metadata(token), timeout=DEFAULT_TIMEOUT_SECONDS), "kernel"
        )
        return reply.agent

    async def audit_trail(self, token: str, session_id: str) -> AuditTrail:
        stub = audit_pb2_grpc.AuditServiceStub(self._channel("audit"))
        events: list[audit_pb2.AuditEvent] = []
        after_seq = 0
        while len(events) < AUDIT_EVENTS_SHOWN:
            request = audit_pb2.ListAuditEventsRequest(session_id=session_id, after_seq=after_seq, limit=AUDIT_PAGE)
            reply = await call(
                stub.ListAuditEvents(request, metadata=bearer_metadata(token), timeout=DEFAULT_TIMEOUT_SECONDS),
                "audit",
            )
            events.extend(reply.events)
            if not reply.next_after_seq:
                return AuditTrail(events=events, complete=True)
            after_seq = reply.next_after_seq
        return AuditTrail(events=events[:AUDIT_EVENTS_SHOWN], complete=False)

    async def verify_session(self, token: str, session_id: str) -> audit_pb2.VerifySessionResponse:
        stub = audit_pb2_grpc.AuditServiceStub(self._channel("audit"))
        request = audit_pb2.VerifySessionRequest(session_id=session_id)
        return await call(
            stub.VerifySession(request, metadata=bearer_metadata(token), timeout=VERIFY_TIMEOUT_SECONDS), "audit"
        )
