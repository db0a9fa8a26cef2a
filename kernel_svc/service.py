"""gRPC servicers: AgentService (public, behind the gateway) and StatusService
(internal health). Protobuf in and out; the work happens in the domain modules."""

from __future__ import annotations

import re
import uuid

import grpc

from aos.v1 import agents_pb2 as pb
from aos.v1 import agents_pb2_grpc as pb_grpc
from aos.v1 import common_pb2, health_pb2, status_pb2, status_pb2_grpc
from aos_common.capabilities import check_grants, is_server_pattern
from aos_common.errors import InvalidArgument
from aos_common.timestamps import to_timestamp
from aos_common.tokens import Claims
from aos_common.verifier import TokenVerifier, bearer_from_metadata, caller_claims
from kernel_svc import scheduler, states
from kernel_svc.invoking import ToolInvoker
from kernel_svc.management import AgentManager
from kernel_svc.process import AgentProcess
from kernel_svc.readers import owner_filter, require_visible
from kernel_svc.spawning import Spawner
from kernel_svc.store import Store

MAX_TASK_BYTES = 64 * 1024
MAX_GRANTS = 64
MAX_LIST = 1000
DEFAULT_LIST = 100
_NAME = re.compile(r"^(\*|[A-Za-z0-9][A-Za-z0-9_.:-]{0,127})$")


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

    def __init__(self, store: Store, live_within_seconds: float):
        self._store = store
        self._live_within = live_within_seconds

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
        )
