"""gRPC servicers: AgentService and ToolServerService (public, behind the
gateway) and StatusService (internal health). Protobuf in and out; the work happens in the domain modules."""

from __future__ import annotations

import json
import re
import uuid

import grpc

from aos.v1 import agents_pb2 as pb
from aos.v1 import agents_pb2_grpc as pb_grpc
from aos.v1 import common_pb2, health_pb2, status_pb2, status_pb2_grpc
from aos.v1 import tool_servers_pb2 as ts_pb
from aos.v1 import tool_servers_pb2_grpc as ts_grpc
from aos_common.capabilities import PERM_TOOLS_MANAGE, check_grants, is_server_pattern
from aos_common.errors import InvalidArgument
from aos_common.permissions import require_operator
from aos_common.timestamps import to_timestamp
from aos_common.tokens import Claims
from aos_common.verifier import TokenVerifier, bearer_from_metadata, caller_claims
from kernel_svc import scheduler, states
from kernel_svc.invoking import ToolInvoker
from kernel_svc.management import AgentManager
from kernel_svc.mcp import definitions as mcp_defs
from kernel_svc.mcp import registration as mcp_registration
from kernel_svc.mcp.servers import Live, ToolServers
from kernel_svc.process import AgentProcess
from kernel_svc.readers import owner_filter, require_visible
from kernel_svc.spawning import Spawner
from kernel_svc.store import Store
from kernel_svc.tools.code import SandboxStatus

MAX_TASK_BYTES = 64 * 1024
MAX_GRANTS = 64
MAX_LIST = 1000
DEFAULT_LIST = 100
_NAME = re.compile(r"^(\*|[A-Za-z0-9][A-Za-z0-9_.:-]{0,127})$")
HASH = re.compile(r"^[0-9a-f]{64}$")


def agent_to_pb(agent: AgentProcess) -> pb.Agent:
    """The API view of an agent. The capability token is never part of it."""
    message = pb.Agent(
        agent_id=agent.id,
        session_id=agent.session_id,
        parent_id=agent.parent_id,
        agent_class=agent.agent_class,
        state=agent.state,
        task=agent.task,
        result=agent.result,
        cost_usd=agent.cost_usd,
        grants=list(agent.grants),
        attempts=agent.attempts,
        created_at=to_timestamp(agent.created_at),
        updated_at=to_timestamp(agent.updated_at),
        token_jti=agent.token_jti,
    )
    if agent.error_reason:
        message.error.CopyFrom(common_pb2.ErrorSummary(reason=agent.error_reason, message=agent.error_message))
    return message


def _agent_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument("agent_id must be a UUID") from None


def validate_spawn(request: pb.SpawnAgentRequest) -> None:
    if not request.agent_class.strip():
        raise InvalidArgument("agent_class is required")
    if not _NAME.match(request.agent_class):
        raise InvalidArgument("agent_class is not a valid name")
    if not request.task.strip():
        raise InvalidArgument("task is required")
    if len(request.task.encode()) > MAX_TASK_BYTES:
        raise InvalidArgument(f"task is larger than {MAX_TASK_BYTES} bytes")
    if len(request.grants) > MAX_GRANTS:
        raise InvalidArgument(f"at most {MAX_GRANTS} grants may be requested")
    check_grants(request.grants)
    for grant in request.grants:
        if not (is_server_pattern(grant) or _NAME.match(grant)):
            raise InvalidArgument(f"grant {grant[:64]!r} is not a valid capability name")
    if len(request.session_id) > 128:
        raise InvalidArgument("session_id is too long")


class AgentService(pb_grpc.AgentServiceServicer):
    def __init__(
        self,
        store: Store,
        spawner: Spawner,
        manager: AgentManager,
        verifier: TokenVerifier,
        auth_mode: str,
        invoker: ToolInvoker,
    ):
        self._store = store
        self._spawner = spawner
        self._manager = manager
        self._verifier = verifier
        self._auth_mode = auth_mode
        self._invoker = invoker

    async def _caller(self, context: grpc.aio.ServicerContext) -> tuple[Claims, str]:
        claims = await caller_claims(context, self._verifier, self._auth_mode)
        return claims, bearer_from_metadata(context.invocation_metadata()) or ""

    async def SpawnAgent(self, request: pb.SpawnAgentRequest, context: grpc.aio.ServicerContext
                         ) -> pb.SpawnAgentResponse:
        claims, token = await self._caller(context)
        validate_spawn(request)
        # Policy verifies the caller's token itself and narrows the grants; a refusal
        # propagates before any row exists.
        agent = await self._spawner.spawn(
            caller_token=token,
            agent_class=request.agent_class,
            task=request.task,
            grants=list(request.grants),
            session_id=request.session_id,
            created_by=claims.subject,
        )
        return pb.SpawnAgentResponse(agent=agent_to_pb(agent))

    async def GetAgent(self, request: pb.GetAgentRequest, context: grpc.aio.ServicerContext) -> pb.GetAgentResponse:
        claims, _ = await self._caller(context)
        agent = require_visible(claims, await self._store.get_agent(_agent_id(request.agent_id)))
        return pb.GetAgentResponse(agent=agent_to_pb(agent))

    async def ListAgents(self, request: pb.ListAgentsRequest, context: grpc.aio.ServicerContext
                         ) -> pb.ListAgentsResponse:
        claims, _ = await self._caller(context)
        if request.state and request.state not in states.ALL_STATES:
            raise InvalidArgument(f"state must be one of {', '.join(states.ALL_STATES)}")
        if request.limit < 0:
            raise InvalidArgument("limit must not be negative")
        limit = min(request.limit or DEFAULT_LIST, MAX_LIST)
        agents = await self._store.list_agents(request.state, request.session_id, limit, owner_filter(claims))
        return pb.ListAgentsResponse(agents=[agent_to_pb(a) for a in agents])

    async def CancelAgent(self, request: pb.CancelAgentRequest, context: grpc.aio.ServicerContext
                          ) -> pb.CancelAgentResponse:
        claims, _ = await self._caller(context)
        return pb.CancelAgentResponse(agent=agent_to_pb(await self._manager.cancel(claims,
                                                                                   _agent_id(request.agent_id))))

    async def RenewAgent(self, request: pb.RenewAgentRequest, context: grpc.aio.ServicerContext
                         ) -> pb.RenewAgentResponse:
        claims, token = await self._caller(context)
        return pb.RenewAgentResponse(agent=agent_to_pb(await self._manager.renew(claims, token,
                                                                                 _agent_id(request.agent_id))))

    async def InvokeTool(self, request: pb.InvokeToolRequest, context: grpc.aio.ServicerContext
                         ) -> pb.InvokeToolResponse:
        claims, _ = await self._caller(context)
        done = await self._invoker.invoke(claims, _agent_id(request.agent_id), request.tool, request.args_json)
        return pb.InvokeToolResponse(decision=done.decision, ok=done.ok, result=done.result,
                                     syscall_id=done.syscall_id, approval_id=done.approval_id, cost_usd=done.cost_usd)


class StatusService(status_pb2_grpc.StatusServiceServicer):
    """The kernel's part of /api/v1/health. Counts only; no secrets, no token needed."""

    def __init__(self, store: Store, live_within_seconds: float, tool_servers: ToolServers | None = None,
                 sandbox: SandboxStatus | None = None):
        self._store = store
        self._live_within = live_within_seconds
        self._tool_servers = tool_servers
        self._sandbox = sandbox

    async def GetStatus(self, request: status_pb2.GetStatusRequest, context: grpc.aio.ServicerContext
                        ) -> status_pb2.GetStatusResponse:
        snap = await scheduler.snapshot(self._store, self._live_within)
        counts = snap.counts
        return status_pb2.GetStatusResponse(
            service="kernel",
            scheduler=health_pb2.SchedulerStats(
                status=snap.status,
                workers=counts.workers,
                runnable=counts.runnable,
                running=counts.running,
                waiting_approval=counts.waiting_approval,
                suspended_token_expired=counts.suspended_token_expired,
                orphans_recovered=counts.orphans_recovered,
            ),
            tool_servers=[health_pb2.ToolServerHealth(name=name, state=state, failures=failures)
                          for name, state, failures in (self._tool_servers.health() if self._tool_servers else [])],
            sandbox=health_pb2.SandboxHealth(status=self._sandbox.status, detail=self._sandbox.detail)
            if self._sandbox else None,
        )


def tool_server_to_pb(live: Live) -> ts_pb.ToolServer:
    """The API view of a tool server: definitions, findings and state; credential names, never values."""
    row = live.row
    listed, approved = live.listed, live.approved
    tools: list[ts_pb.McpTool] = []
    for name in sorted(set(listed) | set(approved)):
        current = listed.get(name)
        pinned = approved.get(name)
        definition = current or pinned
        assert definition is not None
        safety = mcp_defs.effective_safety(definition.annotations, live.override(name))
        status = ("removed" if current is None else
                  "approved" if pinned is not None and pinned.hash == current.hash else "pending")
        tool = ts_pb.McpTool(
            name=name, description=definition.description, input_schema=json.dumps(definition.input_schema),
            annotations=json.dumps(definition.annotations), reversible=safety.reversible,
            blast_radius=safety.blast_radius, idempotent=safety.idempotent, open_world=safety.open_world,
            definition_hash=definition.hash,
            findings=definition.findings(), status=status,
        )
        if status == "pending" and pinned is not None:
            tool.approved_description = pinned.description
            tool.approved_input_schema = json.dumps(pinned.input_schema)
            tool.approved_definition_hash = pinned.hash
        tools.append(tool)
    listed_hash = mcp_defs.set_hash(listed)
    message = ts_pb.ToolServer(
        name=row.name, transport=row.transport, state=live.state, tools=tools,
        definitions_hash=row.approved_hash,
        pending_definitions_hash=listed_hash if listed_hash != row.approved_hash else "",
        command=list(row.command), url=row.url, env_names=sorted(row.secret_env),
        header_names=sorted(row.secret_headers), failures=live.failures, last_error=live.last_error,
        created_by=row.created_by,
    )
    created_at = to_timestamp(row.created_at)
    if created_at is not None:
        message.created_at.CopyFrom(created_at)
    for tool_name, value in row.overrides.items():
        override = mcp_defs.Override.from_json(value)
        entry = message.overrides[tool_name]
        if override.reversible is not None:
            entry.reversible = override.reversible
        if override.blast_radius is not None:
            entry.blast_radius = override.blast_radius
        if override.idempotent is not None:
            entry.idempotent = override.idempotent
        if override.open_world is not None:
            entry.open_world = override.open_world
    return message


def _override(value: ts_pb.ToolOverride) -> mcp_defs.Override:
    return mcp_defs.Override(
        reversible=value.reversible if value.HasField("reversible") else None,
        blast_radius=value.blast_radius if value.HasField("blast_radius") else None,
        idempotent=value.idempotent if value.HasField("idempotent") else None,
        open_world=value.open_world if value.HasField("open_world") else None,
    )


class ToolServerService(ts_grpc.ToolServerServiceServicer):
    """Operators with `tools.manage` register, approve, refresh and remove MCP servers."""

    def __init__(self, servers: ToolServers, verifier: TokenVerifier, auth_mode: str):
        self._servers = servers
        self._verifier = verifier
        self._auth_mode = auth_mode

    async def _operator(self, context: grpc.aio.ServicerContext) -> Claims:
        claims = await caller_claims(context, self._verifier, self._auth_mode)
        require_operator(claims, PERM_TOOLS_MANAGE)
        return claims

    async def RegisterToolServer(self, request: ts_pb.RegisterToolServerRequest, context: grpc.aio.ServicerContext
                                 ) -> ts_pb.RegisterToolServerResponse:
        operator = await self._operator(context)
        registration = mcp_registration.check(
            request.name, request.transport, list(request.command), request.url, dict(request.env),
            dict(request.headers), {k: _override(v) for k, v in request.overrides.items()})
        live = await self._servers.register(operator, registration)
        return ts_pb.RegisterToolServerResponse(tool_server=tool_server_to_pb(live))

    async def ListToolServers(self, request: ts_pb.ListToolServersRequest, context: grpc.aio.ServicerContext
                              ) -> ts_pb.ListToolServersResponse:
        await self._operator(context)
        await self._servers.sync()
        return ts_pb.ListToolServersResponse(tool_servers=[tool_server_to_pb(s) for s in self._servers.all()])

    async def GetToolServer(self, request: ts_pb.GetToolServerRequest, context: grpc.aio.ServicerContext
                            ) -> ts_pb.GetToolServerResponse:
        await self._operator(context)
        await self._servers.sync()
        return ts_pb.GetToolServerResponse(tool_server=tool_server_to_pb(self._servers.get(request.name)))

    async def ApproveToolDefinitions(self, request: ts_pb.ApproveToolDefinitionsRequest,
                                     context: grpc.aio.ServicerContext) -> ts_pb.ApproveToolDefinitionsResponse:
        operator = await self._operator(context)
        if not HASH.match(request.definitions_hash):
            raise InvalidArgument("definitions_hash must be the 64-hex-digit hash shown for the server")
        live = await self._servers.approve(operator, request.name, request.definitions_hash)
        return ts_pb.ApproveToolDefinitionsResponse(tool_server=tool_server_to_pb(live))

    async def RefreshToolServer(self, request: ts_pb.RefreshToolServerRequest, context: grpc.aio.ServicerContext
                                ) -> ts_pb.RefreshToolServerResponse:
        operator = await self._operator(context)
        live = await self._servers.refresh(operator, request.name)
        return ts_pb.RefreshToolServerResponse(tool_server=tool_server_to_pb(live))

    async def RemoveToolServer(self, request: ts_pb.RemoveToolServerRequest, context: grpc.aio.ServicerContext
                               ) -> ts_pb.RemoveToolServerResponse:
        operator = await self._operator(context)
        await self._servers.remove(operator, request.name)
        return ts_pb.RemoveToolServerResponse()
