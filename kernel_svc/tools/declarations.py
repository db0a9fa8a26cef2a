"""Tools declared to policy: policy decides from its own copy of these which
calls need an operator's approval, and which definition a pinned tool must have."""

from __future__ import annotations

from collections.abc import Iterable

from aos.v1 import policy_internal_pb2 as policy_pb
from aos.v1 import policy_internal_pb2_grpc as policy_grpc
from aos_common.rpc import call
from kernel_svc.tools.registry import Tool


def tool_spec(tool: Tool) -> policy_pb.ToolSpec:
    return policy_pb.ToolSpec(name=tool.name, reversible=tool.reversible, blast_radius=tool.blast_radius,
                              idempotent=tool.idempotent, args_schema_json=tool.args_schema_json,
                              definition_hash=tool.definition_hash, open_world=tool.open_world)


async def declare(policy: policy_grpc.PolicyServiceStub, tools: Iterable[Tool], timeout_s: float = 5.0) -> int:
    """Declare `tools`; raises the AosError policy answered (Unavailable when it is down)."""
    request = policy_pb.RegisterToolsRequest(tools=[tool_spec(t) for t in tools])
    reply = await call(policy.RegisterTools(request, timeout=timeout_s), "policy")
    return reply.registered
