"""An agent process as the kernel holds it: one row of `kernel.agent_processes`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aos_common.judging import JudgeConfig


@dataclass(frozen=True)
class AgentProcess:
    id: str
    session_id: str
    parent_id: str
    agent_class: str
    backend: str
    model: str
    state: str
    task: str
    grants: tuple[str, ...]
    # The capability token is a credential: kept out of repr so it never reaches a log line.
    token: str = field(repr=False)
    token_jti: str
    token_expires_at: datetime
    worker_id: str
    attempts: int
    checkpoint: dict[str, Any] = field(repr=False)
    result: str
    error_reason: str
    error_message: str
    cost_usd: float
    created_at: datetime
    updated_at: datetime
    # The operator subject whose SpawnAgent started this agent's tree.
    created_by: str = ""
    # The judge of the agent's class, as it was when the agent was spawned.
    judge: JudgeConfig = field(default_factory=JudgeConfig)

    @property
    def epoch(self) -> int:
        """The fencing epoch of the claim this copy was read under."""
        return self.attempts


@dataclass(frozen=True)
class NewAgent:
    """What SpawnAgent (or agents.spawn) inserts, once policy has minted the token."""

    id: str
    session_id: str
    parent_id: str | None
    agent_class: str
    backend: str
    model: str
    task: str
    grants: tuple[str, ...]
    token: str = field(repr=False)
    token_jti: str
    token_expires_at_unix: int
    created_by: str = ""
    judge: JudgeConfig = field(default_factory=JudgeConfig)
