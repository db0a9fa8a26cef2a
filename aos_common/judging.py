"""The judge's vocabulary, shared by policy (which enforces a class's judge) and the
kernel (which calls it): verdicts, what a judge may look at, what its verdict does.

A judge is a second model call that sees only a proposal and the evidence the
agent cites for it, and says whether the one follows from the other
(docs/JUDGE.md). Its configuration lives on the agent class.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aos_common.capabilities import LLM_BACKENDS
from aos_common.errors import InvalidArgument

AGREE, DISAGREE, UNSURE = "agree", "disagree", "unsure"
VERDICTS = (AGREE, DISAGREE, UNSURE)

# What a judge looks at: tool calls that open an approval (irreversible ones),
# final answers, and every call to a tool that is irreversible or whose blast
# radius is above low.
ON_APPROVALS, ON_ANSWERS, ON_CONSEQUENTIAL_CALLS = "approvals", "answers", "consequential_calls"
ON_VALUES = (ON_APPROVALS, ON_ANSWERS, ON_CONSEQUENTIAL_CALLS)

# advise: the verdict is recorded and shown; block: only `agree` lets a judged call through.
ADVISE, BLOCK = "advise", "block"
POLICIES = (ADVISE, BLOCK)

MAX_MODEL_CHARS = 200
MAX_REASON_CHARS = 500


def may_be_judged(reversible: bool, blast_radius: str) -> bool:
    """Whether any judge configuration judges calls to a tool of this safety: a
    reversible tool of low blast radius is never judged."""
    return not reversible or blast_radius != "low"


@dataclass(frozen=True)
class JudgeConfig:
    """An agent class's judge; `on` empty means the class has none."""

    backend: str = ""
    model: str = ""
    on: frozenset[str] = frozenset()
    policy: str = ADVISE

    @property
    def enabled(self) -> bool:
        return bool(self.on)

    def judges_tool(self, reversible: bool, blast_radius: str) -> bool:
        """Whether a call to a tool of this safety must carry a verdict."""
        if not may_be_judged(reversible, blast_radius):
            return False
        if not reversible and (ON_APPROVALS in self.on or ON_CONSEQUENTIAL_CALLS in self.on):
            return True
        return ON_CONSEQUENTIAL_CALLS in self.on and blast_radius != "low"

    @property
    def judges_answers(self) -> bool:
        return ON_ANSWERS in self.on

    def as_dict(self) -> dict[str, Any]:
        if not self.enabled:
            return {}
        return {"backend": self.backend, "model": self.model, "on": sorted(self.on), "policy": self.policy}


def judge_config(backend: str, model: str, on: Iterable[str], policy: str,
                 allowed_backends: Iterable[str]) -> JudgeConfig:
    """A class's judge from its parts, or InvalidArgument. All empty: no judge."""
    on_set = frozenset(on)
    if not on_set and not backend and not model and not policy:
        return JudgeConfig()
    if not on_set:
        raise InvalidArgument(f"judge.on must name at least one of {', '.join(ON_VALUES)}")
    unknown = on_set - set(ON_VALUES)
    if unknown:
        raise InvalidArgument(f"judge.on may hold only {', '.join(ON_VALUES)}; got {', '.join(sorted(unknown))}")
    if backend not in LLM_BACKENDS:
        raise InvalidArgument(f"judge.backend must be one of {', '.join(sorted(LLM_BACKENDS))}")
    if backend not in set(allowed_backends):
        raise InvalidArgument("judge.backend must be one of the class's allowed_backends")
    if not model.strip() or len(model) > MAX_MODEL_CHARS:
        raise InvalidArgument(f"judge.model must be a non-empty name of at most {MAX_MODEL_CHARS} characters")
    policy = policy or ADVISE
    if policy not in POLICIES:
        raise InvalidArgument(f"judge.policy must be one of {', '.join(POLICIES)}")
    return JudgeConfig(backend, model, on_set, policy)


def from_dict(stored: Mapping[str, Any] | None) -> JudgeConfig:
    """A judge as stored (`as_dict`); trusted, since it was validated when the class was made."""
    if not stored:
        return JudgeConfig()
    return JudgeConfig(str(stored.get("backend", "")), str(stored.get("model", "")),
                       frozenset(stored.get("on") or ()), str(stored.get("policy") or ADVISE))
