"""What a syscall asks policy for: the request Authorize decides on.

Its own module so that the decision rules (`decisions.py`) and the boundary
that applies them (`syscalls.py`) both depend on it, and not on each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SyscallRequest:
    token: str
    kind: str
    target: str
    agent_id: str = ""
    args_canonical: str = ""
    args_hash: str = ""
    model: str = ""
    max_input_tokens: int = 0
    max_output_tokens: int = 0
    approval_id: str = ""
    evidence: list[dict[str, Any]] = field(default_factory=list)
    invoked_by: str = ""
    invoked_by_jti: str = ""
    # The definition the kernel is about to call, for a pinned (MCP) tool.
    definition_hash: str = ""
    # A sandboxed tool's resource limits, before the class's ceilings lower them.
    limits: dict[str, float] = field(default_factory=dict)
    # Where each argument value came from, by JSON pointer (aos_common/provenance.py).
    arg_provenance: dict[str, str] = field(default_factory=dict)
    # The class judge's verdict on this tool call, as the kernel recorded it (JUDGE_VERDICT).
    judge_verdict: str = ""
    judge_model: str = ""
    judge_reason: str = ""

    def requester(self) -> dict[str, str]:
        """Who asked for the call, when an operator did (recorded with the decision)."""
        if not self.invoked_by:
            return {}
        return {"invoked_by": self.invoked_by[:256], "invoked_by_jti": self.invoked_by_jti[:128]}
