"""Agent classes: the template an agent is spawned from, valid by construction."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime

from aos_common import provenance
from aos_common.capabilities import LLM_BACKENDS, WILDCARD, check_grants, is_server_pattern
from aos_common.errors import InvalidArgument
from aos_common.judging import JudgeConfig
from aos_common.resource_limits import check_limits

BACKENDS = frozenset(LLM_BACKENDS)
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
CAPABILITY_PATTERN = re.compile(r"^[A-Za-z0-9_.:/-]{1,128}$")
MAX_SPAWN_LIMIT = 100_000
BLAST_RADII = ("low", "medium", "high")
MAX_APPROVAL_QUORUM = 10
MAX_APPROVAL_TTL_SECONDS = 30 * 86400


@dataclass(frozen=True)
class AgentClass:
    name: str
    backend: str
    model: str
    allowed_backends: frozenset[str]
    capabilities: frozenset[str]
    cost_ceiling_usd: float
    created_at: datetime | None = None
    # Spawn limits for a session of this class; None: the deployment's default.
    max_agents: int | None = None
    max_depth: int | None = None
    # Ceilings on a sandboxed call's resources (aos_common/resource_limits.py);
    # a limit not named is the deployment's default.
    sandbox_limits: dict[str, float] = field(default_factory=dict)
    # What a consequential call with an argument not traced to the operator needs
    # (aos_common/provenance.py): allow, approve or deny.
    untrusted_args: str = provenance.DEFAULT_UNTRUSTED_ARGS
    # The class's judge (aos_common/judging.py); disabled when it judges nothing.
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    # How many distinct operators must approve a call, by blast radius; a radius
    # not named needs one (docs/POLICY.md "Approval quorum").
    approval_quorum: dict[str, int] = field(default_factory=dict)
    # The operator who started the agent's tree may not count toward its approvals.
    approval_excludes_spawner: bool = False
    # How long the class's approvals wait; None: the deployment's default.
    approval_ttl_seconds: int | None = None

    def __post_init__(self) -> None:
        if not NAME_PATTERN.match(self.name):
            raise InvalidArgument("agent class name must match ^[a-z][a-z0-9_.-]{0,63}$")
        if self.backend not in BACKENDS:
            raise InvalidArgument(f"backend must be one of {', '.join(sorted(BACKENDS))}")
        if not self.model.strip() or len(self.model) > 200:
            raise InvalidArgument("model must be a non-empty name of at most 200 characters")
        if not self.allowed_backends:
            raise InvalidArgument("allowed_backends must name at least one backend")
        unknown = self.allowed_backends - BACKENDS
        if unknown:
            raise InvalidArgument(f"unknown backends in allowed_backends: {', '.join(sorted(unknown))}")
        if self.backend not in self.allowed_backends:
            raise InvalidArgument("backend must be one of the class's allowed_backends")
        if not self.capabilities:
            raise InvalidArgument("capabilities must name at least one capability")
        if WILDCARD in self.capabilities:
            # A template is the most an agent can ever hold; '*' would make it unbounded.
            raise InvalidArgument(
                "capabilities must name tools, or one server's as 'mcp.<server>.*'; '*' is not allowed in a class"
            )
        check_grants(self.capabilities)
        for name in self.capabilities:
            if not (is_server_pattern(name) or CAPABILITY_PATTERN.match(name)):
                raise InvalidArgument(f"capability {name!r} is not a valid name")
        if not math.isfinite(self.cost_ceiling_usd) or self.cost_ceiling_usd <= 0:
            raise InvalidArgument("cost_ceiling_usd must be a finite number greater than 0")
        for field_name, limit in (("max_agents", self.max_agents), ("max_depth", self.max_depth)):
            if limit is not None and not 0 < limit <= MAX_SPAWN_LIMIT:
                raise InvalidArgument(f"{field_name} must be between 1 and {MAX_SPAWN_LIMIT}, or 0 for the default")
        check_limits(self.sandbox_limits, "sandbox_limits")
        if self.untrusted_args not in provenance.UNTRUSTED_ARGS_MODES:
            raise InvalidArgument(f"untrusted_args must be one of {', '.join(provenance.UNTRUSTED_ARGS_MODES)}")
        if self.judge.enabled and self.judge.backend not in self.allowed_backends:
            # The judge's calls are the class's own LLM syscalls, held to the same backends.
            raise InvalidArgument("judge.backend must be one of the class's allowed_backends")
        for radius, needed in self.approval_quorum.items():
            if radius not in BLAST_RADII:
                raise InvalidArgument(f"approval_quorum keys must be blast radii ({', '.join(BLAST_RADII)}), "
                                      f"not {radius[:64]!r}")
            if isinstance(needed, bool) or not isinstance(needed, int) or not 1 <= needed <= MAX_APPROVAL_QUORUM:
                raise InvalidArgument(f"approval_quorum[{radius!r}] must be a whole number from 1 to "
                                      f"{MAX_APPROVAL_QUORUM}")
        ttl = self.approval_ttl_seconds
        if ttl is not None and not 0 < ttl <= MAX_APPROVAL_TTL_SECONDS:
            raise InvalidArgument(f"approval_ttl_seconds must be between 1 and {MAX_APPROVAL_TTL_SECONDS}, "
                                  "or 0 for the default")

    def approvals_required(self, blast_radius: str) -> int:
        """How many distinct operators must approve a call of this blast radius."""
        return self.approval_quorum.get(blast_radius, 1)
