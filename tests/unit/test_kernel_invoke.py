"""InvokeTool without services: who may invoke, what never reaches policy, and that
only an ALLOW runs the tool (policy and the store are in-memory fakes)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aos.v1 import policy_internal_pb2 as ppb
from aos_common.errors import AosError, InsufficientAuthority, InvalidArgument, InvalidTransition, NotFound
from aos_common.tokens import Claims
from kernel_svc.invoking import ToolInvoker
from kernel_svc.process import AgentProcess
from kernel_svc.syscalls import SyscallBoundary
from kernel_svc.tools.builtin import builtin_registry
from kernel_svc.tools.registry import Tool, ToolContext, ToolRegistry
from tests.fakes import FakePolicy

AGENT_ID = str(uuid.uuid4())


def operator(*caps: str, kind: str = "operator") -> Claims:
    return Claims(jti="op-jti", subject="ops@example", kind=kind, capabilities=frozenset(caps),
                  backends=frozenset(), issued_at=1, expires_at=2**40)


def agent_row(state: str = "runnable") -> AgentProcess:
    now = datetime.now(UTC)
    return AgentProcess(
        id=AGENT_ID, session_id=str(uuid.uuid4()), parent_id="", agent_class="c", backend="anthropic",
        model="aos-scripted", state=state, task="t", grants=("sys.noop",), token="agent-token", token_jti="a-jti",
        token_expires_at=now, worker_id="", attempts=0, checkpoint={}, result="", error_reason="",
        error_message="", cost_usd=0.0, created_at=now, updated_at=now, created_by="ops@example",
    )


@dataclass
class FakeStore:
    agent: AgentProcess

    async def get_agent(self, agent_id: str) -> AgentProcess:
        assert agent_id == self.agent.id
        return self.agent


@dataclass
class Harness:
    invoker: ToolInvoker
    policy: FakePolicy
    ran: list[str]


def harness(tmp_path: Path, answer: ppb.AuthorizeResponse, state: str = "runnable") -> Harness:
    ran: list[str] = []

    async def spy(args: Any, ctx: ToolContext) -> str:
        ran.append(ctx.agent_id)
        return "spied"

    registry = ToolRegistry([
        *builtin_registry().all(),
        Tool(name="test.spy", description="records that it ran", parameters={"type": "object"}, reversible=True,
             blast_radius="low", idempotent=True, run=spy),
    ])
    policy = FakePolicy(answer=answer)
    store = FakeStore(agent_row(state))
    boundary = SyscallBoundary(policy, store)  # type: ignore[arg-type]
    invoker = ToolInvoker(store, boundary, registry, tmp_path)  # type: ignore[arg-type]
    return Harness(invoker, policy, ran)


ALLOWED = ppb.AuthorizeResponse(decision=ppb.DECISION_ALLOW, syscall_id=str(uuid.uuid4()))


@pytest.mark.parametrize("claims", [operator("agents.spawn"), operator("tools.invoke", kind="agent"), operator()])
def test_invoking_needs_an_operator_holding_tools_invoke(tmp_path: Path, claims: Claims) -> None:
    h = harness(tmp_path, ALLOWED)
    with pytest.raises(InsufficientAuthority, match=r"tools\.invoke|agent tokens"):
        asyncio.run(h.invoker.invoke(claims, AGENT_ID, "sys.noop", ""))
    assert h.policy.authorized == []


@pytest.mark.parametrize("caps", [("tools.invoke",), ("*",)])
def test_tools_invoke_or_wildcard_is_enough(tmp_path: Path, caps: tuple[str, ...]) -> None:
    h = harness(tmp_path, ALLOWED)
    assert asyncio.run(h.invoker.invoke(operator(*caps), AGENT_ID, "sys.noop", "")).decision == "ALLOW"


def test_allowed_noop_runs_and_is_completed(tmp_path: Path) -> None:
    h = harness(tmp_path, ALLOWED)
    done = asyncio.run(h.invoker.invoke(operator("tools.invoke"), AGENT_ID, "sys.noop", ""))
    assert (done.decision, done.ok, done.result, done.syscall_id) == ("ALLOW", True, "ok", ALLOWED.syscall_id)
    [request] = h.policy.authorized
    assert request.token == "agent-token" and request.target == "sys.noop" and request.args_canonical == "{}"
    assert [c.syscall_id for c in h.policy.completed] == [ALLOWED.syscall_id]
    assert (request.invoked_by, request.invoked_by_jti) == ("ops@example", "op-jti")


def test_another_operators_agent_cannot_be_invoked_as(tmp_path: Path) -> None:
    h = harness(tmp_path, ALLOWED)
    stranger = Claims(jti="s-jti", subject="bootstrap-admin/mallory", kind="operator",
                      capabilities=frozenset({"tools.invoke"}), backends=frozenset(), issued_at=1, expires_at=2**40)
    with pytest.raises(NotFound):
        asyncio.run(h.invoker.invoke(stranger, AGENT_ID, "sys.noop", ""))
    assert h.policy.authorized == [] and h.ran == []


def test_deny_is_the_policy_error_and_nothing_runs(tmp_path: Path) -> None:
    denied = ppb.AuthorizeResponse(decision=ppb.DECISION_DENY, reason="INSUFFICIENT_AUTHORITY", message="not granted")
    h = harness(tmp_path, denied)
    with pytest.raises(AosError) as refused:
        asyncio.run(h.invoker.invoke(operator("*"), AGENT_ID, "test.spy", "{}"))
    assert refused.value.reason == "INSUFFICIENT_AUTHORITY" and refused.value.http_status == 403
    assert h.ran == [] and h.policy.completed == []


def test_pending_returns_the_approval_and_nothing_runs(tmp_path: Path) -> None:
    approval = str(uuid.uuid4())
    h = harness(tmp_path, ppb.AuthorizeResponse(decision=ppb.DECISION_PENDING, approval_id=approval))
    done = asyncio.run(h.invoker.invoke(operator("*"), AGENT_ID, "test.spy", "{}"))
    assert (done.decision, done.approval_id, done.ok) == ("PENDING", approval, False)
    assert h.ran == [] and h.policy.completed == []


@pytest.mark.parametrize(
    ("tool", "args_json", "problem"),
    [
        ("no.such_tool", "{}", "unknown tool"),
        ("fs.read_file", "{}", "invalid arguments"),
        ("fs.read_file", "[1]", "must be a JSON object"),
        ("fs.read_file", "{bad", "not valid JSON"),
        ("sys.noop", '{"x": "' + "y" * 70_000 + '"}', "larger than"),
        ("agents.spawn", '{"agent_class": "c", "task": "t", "grants": ["g"]}', "not idempotent"),
    ],
)
def test_bad_requests_never_reach_policy(tmp_path: Path, tool: str, args_json: str, problem: str) -> None:
    h = harness(tmp_path, ALLOWED)
    with pytest.raises(InvalidArgument, match=problem):
        asyncio.run(h.invoker.invoke(operator("*"), AGENT_ID, tool, args_json))
    assert h.policy.authorized == []


def test_a_finished_agent_lends_no_authority(tmp_path: Path) -> None:
    h = harness(tmp_path, ALLOWED, state="completed")
    with pytest.raises(InvalidTransition, match="completed"):
        asyncio.run(h.invoker.invoke(operator("*"), AGENT_ID, "sys.noop", "{}"))
    assert h.policy.authorized == []

