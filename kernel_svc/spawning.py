"""Creating agents: policy mints the token first, and only then does a row exist.

Used by SpawnAgent (an operator's token) and by the agents.spawn tool (the
parent agent's token), so both paths narrow grants the same way: in policy.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from aos.v1 import policy_internal_pb2 as pb
from aos.v1 import policy_internal_pb2_grpc as pb_grpc
from aos_common.judging import JudgeConfig
from aos_common.rpc import call
from kernel_svc.process import AgentProcess, NewAgent
from kernel_svc.store import Store


class Spawner:
    def __init__(self, policy: pb_grpc.PolicyServiceStub, store: Store, timeout_s: float = 10.0):
        self._policy = policy
        self._store = store
        self._timeout_s = timeout_s

    async def spawn(
        self,
        *,
        caller_token: str,
        agent_class: str,
        task: str,
        grants: Sequence[str],
        session_id: str = "",
        parent_id: str = "",
        created_by: str = "",
    ) -> AgentProcess:
        agent_id = str(uuid.uuid4())
        minted = await call(
            self._policy.MintAgentToken(
                pb.MintAgentTokenRequest(
                    caller_token=caller_token,
                    agent_class=agent_class,
                    requested_grants=list(grants),
                    session_id=session_id,
                    agent_id=agent_id,
                    parent_agent_id=parent_id,
                ),
                timeout=self._timeout_s,
            ),
            "policy",
        )
        return await self._store.insert_agent(
            NewAgent(
                id=agent_id,
                session_id=minted.session_id,
                parent_id=parent_id or None,
                agent_class=agent_class,
                backend=minted.agent_class.backend,
                model=minted.agent_class.model,
                task=task,
                grants=tuple(minted.grants),
                token=minted.token,
                token_jti=minted.jti,
                token_expires_at_unix=minted.expires_at_unix,
                created_by=created_by,
                judge=JudgeConfig(minted.agent_class.judge.backend, minted.agent_class.judge.model,
                                  frozenset(minted.agent_class.judge.on), minted.agent_class.judge.policy),
            )
        )


@dataclass(frozen=True)
class ChildrenOf:
    """agents.spawn for one parent: the child joins the parent's session."""

    spawner: Spawner
    parent: AgentProcess

    async def spawn_child(self, agent_class: str, task: str, grants: list[str]) -> str:
        child = await self.spawner.spawn(
            caller_token=self.parent.token,
            agent_class=agent_class,
            task=task,
            grants=grants,
            session_id=self.parent.session_id,
            parent_id=self.parent.id,
            created_by=self.parent.created_by,
        )
        return child.id
