"""AgentService.InvokeTool end to end (REST and gRPC → gateway → kernel → policy →
audit → tool → back) on the stack as real processes. No workers run, so the
agents stay `runnable` and every effect seen here is the invoked call's."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import grpc
import httpx
import pytest

from aos.v1 import agents_pb2, agents_pb2_grpc
from tests.integration.test_e2e_agents import audit_events, create_class, spawn
from tests.stack import RunningStack, stack  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration

STACK_ENV = {"AOS_WORKERS": "0"}
TOOLS = ("fs.read_file", "fs.list_dir", "fs.delete_file", "sys.noop")


def wait_for_services(running: RunningStack, timeout: float = 90.0) -> None:
    """Every service answers (health itself stays `degraded`: no worker runs here)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            health = httpx.get(running.http_url + "/api/v1/health", timeout=2.0).json()
            if health.get("services") and all(s["status"] == "ok" for s in health["services"]):
                return
        except (httpx.HTTPError, ValueError, FileNotFoundError, KeyError):
            pass
        time.sleep(0.3)
    raise AssertionError("the services did not come up")


@pytest.fixture(scope="module")
def client(stack: RunningStack) -> Iterator[httpx.Client]:  # noqa: F811
    wait_for_services(stack)
    with stack.client() as http:
        yield http


@pytest.fixture(scope="module")
def agent_class(client: httpx.Client) -> str:
    return create_class(client, capabilities=TOOLS)


def invoke(client: httpx.Client, agent_id: str, tool: str, args: str = "{}") -> httpx.Response:
    return client.post(f"/api/v1/agents/{agent_id}:invokeTool", json={"tool": tool, "args_json": args})


def reason(reply: httpx.Response) -> str:
    return str(reply.json()["error"]["details"][0]["reason"])


def test_allowed_call_runs_and_is_audited(stack: RunningStack, client: httpx.Client,  # noqa: F811
                                          agent_class: str) -> None:
    (stack.workspace / "invoke").mkdir(parents=True, exist_ok=True)
    (stack.workspace / "invoke" / "note.txt").write_text("invoked content")
    agent = spawn(client, agent_class, "be invoked", ["fs.read_file", "sys.noop"])
    reply = invoke(client, agent["agent_id"], "fs.read_file", '{"path": "invoke/note.txt"}')
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["decision"], body["ok"], body["result"]) == ("ALLOW", True, "invoked content")
    events = audit_events(client, agent["session_id"])
    by_type = {(e["event_type"], e["payload"].get("syscall_id", "")) for e in events}
    assert ("SYSCALL_ALLOWED", body["syscall_id"]) in by_type
    assert ("SYSCALL_COMPLETED", body["syscall_id"]) in by_type
    [allowed] = [e for e in events if e["event_type"] == "SYSCALL_ALLOWED"]
    assert allowed["payload"]["invoked_by"] == "bootstrap-admin" and allowed["payload"]["invoked_by_jti"]
    assert client.post(f"/api/v1/sessions/{agent['session_id']}:verify").json()["ok"] is True


def test_noop_over_grpc_through_the_gateway(stack: RunningStack, client: httpx.Client,  # noqa: F811
                                            agent_class: str) -> None:
    agent = spawn(client, agent_class, "be invoked", ["sys.noop"])
    metadata = (("authorization", f"Bearer {stack.admin_token}"),)
    with grpc.insecure_channel(stack.grpc_address) as channel:
        reply = agents_pb2_grpc.AgentServiceStub(channel).InvokeTool(
            agents_pb2.InvokeToolRequest(agent_id=agent["agent_id"], tool="sys.noop"), metadata=metadata, timeout=30)
    assert (reply.decision, reply.ok, reply.result) == ("ALLOW", True, "ok") and reply.syscall_id


def test_tool_outside_the_agents_grants_is_refused_and_not_run(stack: RunningStack, client: httpx.Client,  # noqa: F811
                                                                agent_class: str) -> None:
    (stack.workspace / "keep.txt").write_text("keep me")
    agent = spawn(client, agent_class, "be invoked", ["sys.noop"])
    for tool, args in (("fs.list_dir", "{}"), ("fs.delete_file", '{"path": "keep.txt"}')):
        reply = invoke(client, agent["agent_id"], tool, args)
        assert reply.status_code == 403 and reason(reply) == "INSUFFICIENT_AUTHORITY", reply.text
    assert (stack.workspace / "keep.txt").read_text() == "keep me"
    events = audit_events(client, agent["session_id"])
    types = [e["event_type"] for e in events]
    assert types.count("SYSCALL_DENIED") == 2 and "SYSCALL_COMPLETED" not in types
    assert {e["payload"]["invoked_by"] for e in events if e["event_type"] == "SYSCALL_DENIED"} == {"bootstrap-admin"}
    pending = client.get("/api/v1/approvals", params={"state": "pending"}).json()["approvals"]
    assert all(a["agent_id"] != agent["agent_id"] for a in pending)


def test_caller_without_tools_invoke_is_refused(stack: RunningStack, client: httpx.Client,  # noqa: F811
                                                agent_class: str) -> None:
    agent = spawn(client, agent_class, "be invoked", ["sys.noop"])
    minted = client.post("/api/v1/tokens", json={"subject": f"ops-{uuid.uuid4().hex[:6]}",
                                                 "grants": ["agents.spawn", "sys.noop"], "ttl_seconds": 600})
    assert minted.status_code == 200, minted.text
    with stack.client(minted.json()["token"]) as limited:
        reply = invoke(limited, agent["agent_id"], "sys.noop")
    assert reply.status_code == 403 and reason(reply) == "INSUFFICIENT_AUTHORITY", reply.text
    assert "tools.invoke" in reply.json()["error"]["message"]
    types = [e["event_type"] for e in audit_events(client, agent["session_id"])]
    assert "SYSCALL_ALLOWED" not in types and "SYSCALL_DENIED" not in types


def test_irreversible_tool_stops_at_its_approval(stack: RunningStack, client: httpx.Client,  # noqa: F811
                                                 agent_class: str) -> None:
    (stack.workspace / "doomed.txt").write_text("still here")
    agent = spawn(client, agent_class, "be invoked", ["fs.delete_file"])
    reply = invoke(client, agent["agent_id"], "fs.delete_file", '{"path": "doomed.txt"}')
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["decision"] == "PENDING" and body["approval_id"] and not body.get("ok")
    assert (stack.workspace / "doomed.txt").read_text() == "still here"
    approval = client.get(f"/api/v1/approvals/{body['approval_id']}").json()
    assert (approval["agent_id"], approval["tool"], approval["state"]) == (agent["agent_id"], "fs.delete_file",
                                                                            "pending")
    types = [e["event_type"] for e in audit_events(client, agent["session_id"])]
    assert "HUMAN_APPROVAL_REQUESTED" in types and "SYSCALL_COMPLETED" not in types
