"""The three-part checkpoint an agent resumes from: the conversation so far, the
step index, and the syscall in flight (saved before its effect starts).

Stored as JSON in `agent_processes.checkpoint`; `results` indexes the tool
results the model may cite as evidence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from kernel_svc.providers.base import Message, ToolCall

# Phases of a syscall in flight.
AUTHORIZING = "authorizing"  # about to ask policy (or asked, no answer recorded)
PENDING = "pending"  # policy answered PENDING: waiting for an operator
ALLOWED = "allowed"  # policy answered ALLOW: the effect may have started

LLM = "llm"
TOOL = "tool"


@dataclass
class Inflight:
    kind: str
    target: str
    phase: str = AUTHORIZING
    tool_call_id: str = ""
    args_canonical: str = ""
    args_hash: str = ""
    approval_id: str = ""
    syscall_id: str = ""
    # The class judge's verdict on this tool call, sent with its Authorize (verdict, model, reason).
    judge: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResultRecord:
    """One tool result in the conversation, numbered from 1 as the model cites it."""

    index: int
    tool: str
    args_json: str
    ok: bool
    digest: str
    excerpt: str
    # Injection-detector pattern ids the result raised.
    patterns: tuple[str, ...] = ()


@dataclass
class Checkpoint:
    messages: list[Message]
    step: int = 0
    inflight: Inflight | None = None
    results: list[ResultRecord] = field(default_factory=list)
    nudged: bool = False

    @classmethod
    def start(cls, task: str) -> Checkpoint:
        return cls(messages=[Message(role="user", content=task)])

    @classmethod
    def load(cls, data: dict[str, Any], task: str) -> Checkpoint:
        if not data:
            return cls.start(task)
        inflight = data.get("inflight")
        return cls(
            messages=[_message_from(m) for m in data["messages"]],
            step=int(data.get("step", 0)),
            inflight=Inflight(**inflight) if inflight else None,
            results=[ResultRecord(**{**r, "patterns": tuple(r.get("patterns", ()))}) for r in data.get("results", [])],
            nudged=bool(data.get("nudged", False)),
        )

    def dump(self) -> dict[str, Any]:
        return {
            "messages": [asdict(m) for m in self.messages],
            "step": self.step,
            "inflight": asdict(self.inflight) if self.inflight else None,
            "results": [asdict(r) for r in self.results],
            "nudged": self.nudged,
        }

    def unanswered_tool_calls(self) -> list[ToolCall]:
        """Tool calls of the latest assistant message that have no result yet."""
        for position in range(len(self.messages) - 1, -1, -1):
            message = self.messages[position]
            if message.role == "assistant":
                answered = {m.tool_call_id for m in self.messages[position + 1 :] if m.role == "tool"}
                return [call for call in message.tool_calls if call.id not in answered]
        return []


def _message_from(data: dict[str, Any]) -> Message:
    return Message(
        role=data["role"],
        content=data.get("content", ""),
        tool_calls=tuple(ToolCall(**call) for call in data.get("tool_calls", ())),
        tool_call_id=data.get("tool_call_id", ""),
        tool_name=data.get("tool_name", ""),
    )
