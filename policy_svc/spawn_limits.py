"""Spawn limits: how many agents a session may hold and how deep they may nest.

A session's limits are its class's (`max_agents`, `max_depth`), or the
deployment's defaults for a class that sets none. The count and the depth are
checked and recorded in one statement on the session's ledger row, inside the
transaction that mints the agent's token, so concurrent spawns cannot pass them
and a spawn that rolls back counts nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from aos_common.errors import AgentLimitExceeded
from policy_svc.store import Queries


@dataclass(frozen=True)
class SpawnLimits:
    """The deployment's defaults (AOS_MAX_AGENTS_PER_SESSION, AOS_MAX_SPAWN_DEPTH)."""

    max_agents: int
    max_depth: int

    async def admit(self, tx: Queries, session_id: str, agent_id: str, parent_agent_id: str) -> int:
        """Count `agent_id` into its session; its depth, or AgentLimitExceeded."""
        depth = await tx.admit_agent(session_id, agent_id, parent_agent_id, self.max_agents, self.max_depth)
        if depth is not None:
            return depth
        limits = await tx.spawn_limits(session_id, parent_agent_id, self.max_agents, self.max_depth)
        if limits["agent_count"] >= limits["max_agents"]:
            raise AgentLimitExceeded(f"session {session_id} already holds {limits['agent_count']} agents, "
                                     f"its limit (max_agents {limits['max_agents']})")
        raise AgentLimitExceeded(f"a child of {parent_agent_id} would be at depth {limits['depth']}, past the "
                                 f"session's limit (max_depth {limits['max_depth']})")
