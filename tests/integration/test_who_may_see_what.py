"""Who may see and do what on the public API, against a real stack: agent tokens
are refused on every public route (at the edge and again at each backend), an
ended agent's token and its children's are revoked, agents are read only by
`agents.read` holders or the operator that started them, deciding an approval
needs reading it and holding its tool, and minted subjects cannot impersonate."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import grpc
import httpx
import pytest

from aos.v1 import agents_pb2, agents_pb2_grpc, audit_pb2, audit_pb2_grpc, tokens_pb2, tokens_pb2_grpc
from tests.integration.test_e2e_agents import TERMINAL, create_class, spawn, wait_for
from tests.stack import RunningStack, stack  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def admin(stack: RunningStack):  # noqa: F811
    stack.wait_healthy(90)
    with stack.client() as http:
        yield http


def new_class(admin: httpx.Client, capabilities: list[str]) -> str:
    return create_class(admin, capabilities=tuple(capabilities))


def mint(client: httpx.Client, subject: str, grants: list[str]) -> dict[str, Any]:
    reply = client.post("/api/v1/tokens", json={"subject": subject, "grants": grants, "ttl_seconds": 3600})
    assert reply.status_code == 200, reply.text
    return reply.json()


def reason(reply: httpx.Response) -> str:
    return reply.json()["error"]["details"][0]["reason"]


async def _agent_token(stack: RunningStack, agent_id: str) -> tuple[str, str]:  # noqa: F811
    conn = await asyncpg.connect(stack.db.admin_dsn)
    try:
        row = await conn.fetchrow("SELECT token, token_jti FROM kernel.agent_processes WHERE id = $1",
                                  uuid.UUID(agent_id))
    finally:
        await conn.close()
    assert row is not None
    return row["token"], row["token_jti"]


def agent_token(stack: RunningStack, agent_id: str) -> tuple[str, str]:  # noqa: F811
    """The agent's capability token, as a thief with the kernel's database would have it."""
    return asyncio.run(_agent_token(stack, agent_id))


def revoked(admin: httpx.Client, jti: str) -> bool:
    tokens = admin.get("/api/v1/tokens", params={"include_revoked": "true"}).json()["tokens"]
    return any(t["jti"] == jti and t.get("revoked") for t in tokens)


def test_agent_tokens_are_refused_on_every_public_route(stack: RunningStack, admin: httpx.Client) -> None:  # noqa: F811
    agent_class = new_class(admin, ["fs.read_file", "agents.spawn", "audit.read", "approvals.read"])
    waiting = spawn(admin, agent_class, "Wait a while.\nplan:\nwait 40\n1. answer done", ["*"])
    token, _ = agent_token(stack, waiting["agent_id"])
    routes = [
        ("GET", "/api/v1/agents", None),
        ("GET", f"/api/v1/agents/{waiting['agent_id']}", None),
        ("POST", "/api/v1/agents", {"agent_class": agent_class, "task": "plan:\n1. answer hi", "grants": ["*"]}),
        ("GET", "/api/v1/approvals", None),
        ("GET", f"/api/v1/sessions/{waiting['session_id']}/audit-events", None),
        ("POST", "/api/v1/tokens", {"subject": "x", "grants": ["fs.read_file"]}),
        ("GET", "/api/v1/agent-classes", None),
    ]
    with stack.client(token) as thief:
        for method, path, body in routes:
            reply = thief.request(method, path, json=body)
            assert (reply.status_code, reason(reply)) == (403, "INSUFFICIENT_AUTHORITY"), (path, reply.text)
    assert admin.post(f"/api/v1/agents/{waiting['agent_id']}:cancel", json={}).status_code == 200


def test_backends_refuse_agent_tokens_themselves(stack: RunningStack, admin: httpx.Client) -> None:  # noqa: F811
    """Not only the edge: a request that reaches a backend with an agent token is refused there too."""
    agent_class = new_class(admin, ["fs.read_file", "audit.read"])
    waiting = spawn(admin, agent_class, "Wait.\nplan:\nwait 40\n1. answer done", ["*"])
    token, _ = agent_token(stack, waiting["agent_id"])
    metadata = (("authorization", f"Bearer {token}"),)

    async def attempt() -> list[grpc.StatusCode]:
        codes = []
        async with stack.internal_channel(stack.kernel_address, "gateway") as kernel, \
                stack.internal_channel(stack.audit_address, "gateway") as audit, \
                stack.internal_channel(stack.policy_address, "gateway") as policy:
            calls = [
                agents_pb2_grpc.AgentServiceStub(kernel).ListAgents(agents_pb2.ListAgentsRequest(), metadata=metadata),
                audit_pb2_grpc.AuditServiceStub(audit).ListAuditEvents(
                    audit_pb2.ListAuditEventsRequest(session_id=waiting["session_id"]), metadata=metadata),
                tokens_pb2_grpc.TokenServiceStub(policy).ListTokens(tokens_pb2.ListTokensRequest(), metadata=metadata),
            ]
            for pending in calls:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await pending
                codes.append(refused.value.code())
        return codes

    assert asyncio.run(attempt()) == [grpc.StatusCode.PERMISSION_DENIED] * 3
    assert admin.post(f"/api/v1/agents/{waiting['agent_id']}:cancel", json={}).status_code == 200


def test_an_ended_agents_token_and_its_childrens_are_revoked(stack: RunningStack, admin: httpx.Client) -> None:  # noqa: F811
    child_class = new_class(admin, ["fs.read_file"])
    parent_class = new_class(admin, ["fs.read_file", "agents.spawn"])
    child_task = "Child.\\nplan:\\nwait 20\\n1. answer child done"
    parent = spawn(admin, parent_class, "Spawn a helper.\nplan:\n1. call agents.spawn "
                   f'{{"agent_class": "{child_class}", "task": "{child_task}", "grants": ["fs.read_file"]}}\n'
                   "2. answer Spawned a helper. [evidence: 1]", ["fs.read_file", "agents.spawn"])
    done = wait_for(admin, parent["agent_id"], TERMINAL)
    assert done["state"] == "completed", done
    _, parent_jti = agent_token(stack, parent["agent_id"])
    children = [a for a in admin.get("/api/v1/agents", params={"session_id": parent["session_id"]}).json()["agents"]
                if a.get("parent_id") == parent["agent_id"]]
    assert len(children) == 1
    _, child_jti = agent_token(stack, children[0]["agent_id"])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (revoked(admin, parent_jti) and revoked(admin, child_jti)):
        time.sleep(0.5)
    assert revoked(admin, parent_jti) and revoked(admin, child_jti)
    events = admin.get(f"/api/v1/sessions/{parent['session_id']}/audit-events").json()["events"]
    retired = [e for e in events if e["event_type"] == "TOKEN_REVOKED"]
    assert retired and retired[0]["payload"]["jti"] == parent_jti and retired[0]["payload"]["why"] == "agent ended"


def test_agents_are_read_by_agents_read_or_by_the_operator_that_started_them(
        stack: RunningStack, admin: httpx.Client) -> None:  # noqa: F811
    agent_class = new_class(admin, ["fs.read_file"])
    alice = mint(admin, "alice", ["agents.spawn", "fs.read_file"])
    mallory = mint(admin, "mallory", ["agents.spawn", "fs.read_file"])
    auditor = mint(admin, "auditor", ["audit.read"])
    reader = mint(admin, "reader", ["agents.read"])
    with stack.client(alice["token"]) as as_alice, stack.client(mallory["token"]) as as_mallory, \
            stack.client(auditor["token"]) as as_auditor, stack.client(reader["token"]) as as_reader:
        secret = f"secret-task-{uuid.uuid4().hex}"
        mine = spawn(as_alice, agent_class, f"{secret}\nplan:\n1. answer ok", ["fs.read_file"])
        assert as_alice.get(f"/api/v1/agents/{mine['agent_id']}").status_code == 200
        assert [a["agent_id"] for a in as_alice.get("/api/v1/agents").json()["agents"]] == [mine["agent_id"]]
        for stranger in (as_mallory, as_auditor):
            reply = stranger.get(f"/api/v1/agents/{mine['agent_id']}")
            assert (reply.status_code, reason(reply)) == (404, "NOT_FOUND")
            listed = stranger.get("/api/v1/agents", params={"session_id": mine["session_id"]}).json()
            assert listed.get("agents", []) == [] and secret not in str(listed)
            cancel = stranger.post(f"/api/v1/agents/{mine['agent_id']}:cancel", json={})
            assert cancel.status_code in (403, 404), cancel.text
        assert as_reader.get(f"/api/v1/agents/{mine['agent_id']}").json()["task"].startswith(secret)


def test_deciding_an_approval_needs_reading_it_and_holding_its_tool(
        stack: RunningStack, admin: httpx.Client) -> None:  # noqa: F811
    (stack.workspace / "sight").mkdir(parents=True, exist_ok=True)
    (stack.workspace / "sight" / "doomed.txt").write_text("x")
    agent_class = new_class(admin, ["fs.delete_file"])
    agent = spawn(admin, agent_class, 'Delete.\nplan:\n1. call fs.delete_file {"path": "sight/doomed.txt"}\n'
                  "2. answer Deleted. [evidence: 1]", ["fs.delete_file"])
    wait_for(admin, agent["agent_id"], {"waiting_approval"})
    [approval] = [a for a in admin.get("/api/v1/approvals", params={"state": "pending"}).json()["approvals"]
                  if a["agent_id"] == agent["agent_id"]]
    path = f"/api/v1/approvals/{approval['approval_id']}:approve"
    blind = mint(admin, "blind", ["approvals.decide"])
    toolless = mint(admin, "toolless", ["approvals.decide", "approvals.read"])
    entitled = mint(admin, "entitled", ["approvals.decide", "approvals.read", "fs.delete_file"])
    for token in (blind, toolless):
        with stack.client(token["token"]) as caller:
            reply = caller.post(path, json={"args_hash": approval["args_hash"]})
            assert (reply.status_code, reason(reply)) == (403, "INSUFFICIENT_AUTHORITY"), reply.text
    assert admin.get(f"/api/v1/approvals/{approval['approval_id']}").json()["state"] == "pending"
    with stack.client(entitled["token"]) as caller:
        reply = caller.post(path, json={"args_hash": approval["args_hash"]})
        assert reply.status_code == 200 and reply.json()["decided_by"] == entitled["subject"], reply.text


def test_minted_subjects_live_under_their_minter(stack: RunningStack, admin: httpx.Client) -> None:  # noqa: F811
    impostor = mint(admin, "bootstrap-admin", ["tokens.admin", "audit.read"])
    assert impostor["subject"] == "bootstrap-admin/bootstrap-admin"
    with stack.client(impostor["token"]) as as_impostor:
        nested = mint(as_impostor, "bootstrap-admin", ["audit.read"])
        assert nested["subject"] == "bootstrap-admin/bootstrap-admin/bootstrap-admin"
        reply = as_impostor.post("/api/v1/tokens", json={"subject": "bootstrap-admin/x", "grants": ["audit.read"]})
        assert (reply.status_code, reason(reply)) == (400, "INVALID_ARGUMENT")
    events = admin.get("/api/v1/sessions/00000000-0000-0000-0000-000000000000/audit-events").json()
    minted = [e for e in events.get("events", []) if e["event_type"] == "TOKEN_MINTED"
              and e["payload"]["jti"] == impostor["jti"]]
    assert minted and minted[0]["payload"]["subject"] == "bootstrap-admin/bootstrap-admin"
