"""Operator actions on one agent: cancel and renew.

Both need an operator holding `agents.spawn` who may see the agent
(`readers.py`). A cancel is on the agent's chain, in the operator's name,
before it takes effect; a renew asks policy for a new token within today's
limits and resumes the agent where it stopped.
"""

from __future__ import annotations

from aos.v1 import policy_internal_pb2 as policy_pb
from aos.v1 import policy_internal_pb2_grpc as policy_grpc
from aos_common import events
from aos_common.capabilities import PERM_AGENTS_SPAWN
from aos_common.errors import InvalidTransition
from aos_common.permissions import require_operator
from aos_common.rpc import call
from aos_common.tokens import Claims
from kernel_svc import states
from kernel_svc.audit import AuditClient, state_change
from kernel_svc.checkpoint import PENDING, Checkpoint
from kernel_svc.process import AgentProcess
from kernel_svc.readers import require_visible
from kernel_svc.store import Store

POLICY_TIMEOUT_SECONDS = 10.0


class AgentManager:
    def __init__(self, store: Store, policy: policy_grpc.PolicyServiceStub, audit: AuditClient):
        self._store = store
        self._policy = policy
        self._audit = audit

    async def _managed(self, operator: Claims, agent_id: str) -> AgentProcess:
        require_operator(operator, PERM_AGENTS_SPAWN)
        return require_visible(operator, await self._store.get_agent(agent_id))

    async def cancel(self, operator: Claims, agent_id: str) -> AgentProcess:
        agent = await self._managed(operator, agent_id)

        async def record(before: AgentProcess, after: AgentProcess) -> None:
            await self._audit.append_for_operator(after.session_id, events.AGENT_STATE_CHANGED, operator,
                                                  state_change(before, after))

        return await self._store.transition(agent.id, states.CANCELLED,
                                            error=("CANCELLED", f"cancelled by {operator.subject}"), record=record)

    async def renew(self, operator: Claims, operator_token: str, agent_id: str) -> AgentProcess:
        """Re-mint a suspended agent's token; it resumes waiting for its approval if it was, else runnable."""
        agent = await self._managed(operator, agent_id)
        if agent.state != states.SUSPENDED_TOKEN_EXPIRED:
            raise InvalidTransition(f"agent {agent.id} is {agent.state}; only a suspended_token_expired agent "
                                    "can be renewed")
        renewed = await call(
            self._policy.RenewAgentToken(
                policy_pb.RenewAgentTokenRequest(caller_token=operator_token, agent_id=agent.id,
                                                 expired_jti=agent.token_jti),
                timeout=POLICY_TIMEOUT_SECONDS,
            ),
            "policy",
        )
        inflight = Checkpoint.load(agent.checkpoint, agent.task).inflight
        resume_state = states.WAITING_APPROVAL if inflight and inflight.phase == PENDING else states.RUNNABLE
        return await self._store.renew_token(agent.id, resume_state, renewed.token, renewed.jti,
                                             renewed.expires_at_unix)
