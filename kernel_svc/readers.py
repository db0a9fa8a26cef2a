"""Who may read which agents.

An operator holding `agents.read` reads every agent. Any other operator reads
only the agents whose tree it started (its own SpawnAgent calls and their
descendants); to it, every other agent does not exist, so an id cannot be used
to probe another tenant's agents. Agent tokens never reach these reads: the
public API takes operator tokens only (`aos_common.permissions.operator_only`).
"""

from __future__ import annotations

from aos_common.capabilities import PERM_AGENTS_READ, allows
from aos_common.errors import NotFound
from aos_common.tokens import Claims
from kernel_svc.process import AgentProcess


def owner_filter(claims: Claims) -> str | None:
    """None when the caller reads every agent, else the subject whose agents it may read."""
    return None if allows(claims.capabilities, PERM_AGENTS_READ) else claims.subject


def require_visible(claims: Claims, agent: AgentProcess) -> AgentProcess:
    """`agent` if the caller may read it; NotFound, as for a missing id, otherwise."""
    owner = owner_filter(claims)
    if owner is not None and agent.created_by != owner:
        raise NotFound(f"agent {agent.id} not found")
    return agent
