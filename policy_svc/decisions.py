"""The syscall decision itself, without I/O: given the verified claims and the rows
policy read (tool registration, approval, agent class), what the answer is.

`syscalls.py` reads the rows, calls these, and makes the outcome effective in
one transaction with its audit record. Keeping the decision here makes it
testable and measurable on its own (bench/policy_decision.py). The cost ceiling
itself is compared inside the reservation's single UPDATE, where concurrent
reservations serialize; only the estimate is computed here.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from aos_common import provenance
from aos_common.canonical import canonical_json, parse_json_object, sha256_hex
from aos_common.capabilities import allows
from aos_common.errors import InvalidArgument
from aos_common.judging import AGREE, BLOCK, MAX_REASON_CHARS, VERDICTS
from aos_common.resource_limits import check_limits, lower
from aos_common.tokens import Claims
from policy_svc.approvals import HASH_PATTERN, effective_state
from policy_svc.capability import agent_id_of
from policy_svc.classes import AgentClass
from policy_svc.pricing import PriceTable
from policy_svc.requests import SyscallRequest

# What a tool call needs next.
RUN = "run"  # reversible: allowed as it is
REQUEST_APPROVAL = "request_approval"  # irreversible, no approval named: open (or join) one
USE_APPROVAL = "use_approval"  # irreversible, an approval named: check it

APPROVAL_PENDING = "pending"
APPROVAL_APPROVED = "approved"


class Refused(Exception):
    """A DENY found while deciding; carries what the decision says, and what its
    audit record should hold beside it."""

    def __init__(self, reason: str, message: str, record: dict[str, Any] | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.record = record or {}


def check_caller(claims: Claims, request: SyscallRequest) -> None:
    """Only an agent's token makes syscalls, and only for that agent."""
    if claims.kind != "agent":
        raise Refused("UNAUTHENTICATED", "syscalls need an agent's capability token")
    if request.agent_id and request.agent_id != agent_id_of(claims):
        raise Refused("INSUFFICIENT_AUTHORITY", "the token belongs to another agent")


def check_capability(claims: Claims, needed: str) -> None:
    if not needed or not allows(claims.capabilities, needed):
        raise Refused("INSUFFICIENT_AUTHORITY", f"{needed or 'the target'} is not in the agent's capabilities")


def tool_route(claims: Claims, request: SyscallRequest, tool: dict[str, Any] | None) -> str:
    """RUN, REQUEST_APPROVAL or USE_APPROVAL for a tool call, or Refused.

    The provenance rule (`untrusted_gate`) runs after this, for consequential tools."""
    if not allows(claims.capabilities, request.target):
        raise Refused("INSUFFICIENT_AUTHORITY", f"{request.target!r} is not in the agent's capabilities")
    if tool is None:
        raise Refused("INSUFFICIENT_AUTHORITY", f"unknown tool {request.target!r}")
    check_definition(request, tool)
    check_args(request)
    if tool["reversible"]:
        return RUN
    return USE_APPROVAL if request.approval_id else REQUEST_APPROVAL


def consequential(tool: dict[str, Any]) -> bool:
    """A tool whose effect an untrusted argument could turn against the operator:
    not reversible, or reaching outside the runtime (open-world)."""
    return not tool["reversible"] or bool(tool.get("open_world"))


def arg_labels(request: SyscallRequest) -> dict[str, str]:
    """The provenance label of every leaf of the call's arguments (unlabelled: generated),
    or Refused for labels that are malformed or name no leaf. Runs after check_args."""
    try:
        return provenance.check_labels(request.arg_provenance, json.loads(request.args_canonical))
    except InvalidArgument as error:
        raise Refused("INVALID_ARGUMENT", error.message) from None


def untrusted_gate(route: str, request: SyscallRequest, labels: dict[str, str], agent_class: AgentClass) -> str:
    """The route once the class's `untrusted_args` rule has seen the labels of a
    consequential call: unchanged when every value is trusted or the rule is allow;
    an approval under approve (even for a reversible tool); Refused under deny."""
    suspect = provenance.untrusted_paths(labels)
    if not suspect or agent_class.untrusted_args == provenance.ALLOW:
        return route
    shown = ", ".join(f"{path} ({labels[path]})" for path in suspect[:5])
    if agent_class.untrusted_args == provenance.DENY:
        raise Refused("UNTRUSTED_ARGUMENT",
                      f"{request.target} is consequential and its arguments {shown} were not traced to the operator; "
                      f"class {agent_class.name!r} denies such calls (untrusted_args: deny)",
                      record={"arg_labels": provenance.on_chain(labels)})
    if route == RUN:
        return USE_APPROVAL if request.approval_id else REQUEST_APPROVAL
    return route


def check_definition(request: SyscallRequest, tool: dict[str, Any]) -> None:
    """A pinned tool runs only under the definition an operator approved: one the
    server changed (or a call that names none) is refused, whatever it asks."""
    pinned = tool.get("definition_hash") or ""
    if pinned and request.definition_hash != pinned:
        raise Refused("TOOL_DEFINITION_CHANGED",
                      f"{request.target} is offered under a definition nobody approved; an operator must "
                      "approve the new definition first")


def check_args(request: SyscallRequest) -> None:
    """args_canonical must be canonical JSON of an object, and args_hash its SHA-256."""
    try:
        canonical = canonical_json(parse_json_object(request.args_canonical, "args_canonical"))
    except InvalidArgument as error:
        raise Refused("INVALID_ARGUMENT", error.message) from None
    if canonical.decode() != request.args_canonical:
        raise Refused("INVALID_ARGUMENT", "args_canonical is not RFC 8785 canonical JSON")
    if not HASH_PATTERN.match(request.args_hash) or sha256_hex(canonical) != request.args_hash:
        raise Refused("INVALID_ARGUMENT", "args_hash is not the SHA-256 of args_canonical")


def approval_verdict(row: dict[str, Any] | None, agent_id: str, request: SyscallRequest) -> str:
    """APPROVAL_PENDING or APPROVAL_APPROVED (to be consumed) for the approval a call names, or Refused."""
    if row is None or row["agent_id"] != agent_id or row["tool"] != request.target:
        raise Refused("INSUFFICIENT_AUTHORITY", "no such approval for this agent and tool")
    if row["args_hash"] != request.args_hash:
        raise Refused("APPROVAL_ARGS_MISMATCH", "the arguments differ from the ones the approval is bound to")
    state = effective_state(row)
    if state == "pending":
        return APPROVAL_PENDING
    if state == "denied":
        raise Refused("INSUFFICIENT_AUTHORITY", f"an operator denied this call: {row['reason']}")
    if state == "expired":
        raise Refused("INSUFFICIENT_AUTHORITY", "approval expired before an operator decided")
    if state != "approved":
        raise Refused("INSUFFICIENT_AUTHORITY", "approval was already used; approvals are single-use")
    return APPROVAL_APPROVED


def llm_estimate(claims: Claims, request: SyscallRequest, agent_class: AgentClass | None,
                 prices: PriceTable) -> Decimal:
    """The amount an LLM call must reserve, or Refused (backend, class, model, token bounds)."""
    backend = request.target
    if backend not in claims.backends:
        raise Refused("BACKEND_NOT_ALLOWED", f"backend {backend!r} is not allowed for this agent")
    if agent_class is None or backend not in agent_class.allowed_backends:
        raise Refused("BACKEND_NOT_ALLOWED",
                      f"backend {backend!r} is not in the allowed_backends of class {claims.agent_class!r}")
    if not request.model:
        raise Refused("INVALID_ARGUMENT", "an LLM call must name its model")
    if request.max_input_tokens < 0 or request.max_output_tokens <= 0:
        raise Refused("INVALID_ARGUMENT", "max_input_tokens must be >= 0 and max_output_tokens > 0")
    return prices.cost(request.model, request.max_input_tokens, request.max_output_tokens)


def sandbox_limits(request: SyscallRequest, agent_class: AgentClass) -> dict[str, float]:
    """The limits a sandboxed call may run under: what the kernel asked for, each
    lowered to the class's ceiling (a call may ask for less, never more)."""
    try:
        asked = check_limits(request.limits, "limits")
    except InvalidArgument as error:
        raise Refused("INVALID_ARGUMENT", error.message) from None
    return lower(asked, agent_class.sandbox_limits)


def judge_gate(request: SyscallRequest, agent_class: AgentClass, tool: dict[str, Any]) -> dict[str, str]:
    """The verdict of the class's judge a tool call carries, to show with its approval
    (empty when the class does not judge this tool), or Refused: a judged call without
    a verdict from the class's judge, or, under `block`, with any verdict but agree."""
    judge = agent_class.judge
    if not judge.judges_tool(tool["reversible"], tool["blast_radius"]):
        return {}
    if request.judge_verdict not in VERDICTS or request.judge_model != judge.model:
        raise Refused("INSUFFICIENT_AUTHORITY",
                      f"class {agent_class.name!r} has {request.target} judged first, and the call carries no "
                      f"verdict from its judge {judge.model!r}")
    verdict = {"verdict": request.judge_verdict, "reason": request.judge_reason[:MAX_REASON_CHARS],
               "model": judge.model}
    if judge.policy == BLOCK and request.judge_verdict != AGREE:
        raise Refused("INSUFFICIENT_AUTHORITY",
                      f"the judge's verdict on this call is {request.judge_verdict} and class "
                      f"{agent_class.name!r} lets only agree through: {verdict['reason'] or 'no reason given'}")
    return verdict
