"""Per-class backend constraints through the real services.

An agent of an Ollama-only class runs end to end against the scripted LLM's
Ollama API. Then a kernel gone wrong — simulated by taking that agent's real
capability token from the kernel's table and asking policy directly for an
Anthropic call, as a misconfigured or compromised kernel would — is refused with
BACKEND_NOT_ALLOWED, the refusal is on the session's audit chain, and no request
reaches the Anthropic endpoint.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
import pytest

from aos.v1 import policy_internal_pb2 as pb
from aos.v1 import policy_internal_pb2_grpc as pb_grpc
from tests.integration.test_e2e_agents import TERMINAL, audit_events, spawn, wait_for
from tests.stack import RunningStack


@pytest.fixture(scope="module")
def client(stack: RunningStack):
    stack.wait_healthy(90)
    with stack.client() as http:
        yield http


def ollama_only_class(client: httpx.Client) -> str:
    name = f"local-only-{uuid.uuid4().hex[:6]}"
    reply = client.post("/api/v1/agent-classes", json={
        "name": name, "backend": "ollama", "model": "aos-scripted", "allowed_backends": ["ollama"],
        "capabilities": ["fs.read_file"], "cost_ceiling_usd": 1.0,
    })
    assert reply.status_code == 200, reply.text
    return name


def requests_by_backend(stack: RunningStack, marker: str) -> dict[str, int]:
    log = httpx.get(stack.fake_llm_url + "/_fake/requests", timeout=10).json()["requests"]
    counts: dict[str, int] = {}
    for entry in log:
        if marker in str(entry["body"]):
            counts[entry["backend"]] = counts.get(entry["backend"], 0) + 1
    return counts


def agent_token(stack: RunningStack, agent_id: str) -> str:
    async def read() -> str:
        conn = await asyncpg.connect(stack.db.admin_dsn)
        try:
            return await conn.fetchval("SELECT token FROM kernel.agent_processes WHERE id = $1", uuid.UUID(agent_id))
        finally:
            await conn.close()

    return asyncio.run(read())


def test_ollama_only_agent_runs_on_ollama(stack: RunningStack, client: httpx.Client) -> None:
    (stack.workspace / "local.txt").write_text("kept on this machine")
    marker = uuid.uuid4().hex
    task = (f"[{marker}] Read it.\nplan:\n1. call fs.read_file {{\"path\": \"local.txt\"}}\n"
            "2. answer Read it. [evidence: 1]")
    agent = spawn(client, ollama_only_class(client), task, ["fs.read_file"])
    done = wait_for(client, agent["agent_id"], TERMINAL)
    assert done["state"] == "completed", done
    assert requests_by_backend(stack, marker) == {"ollama": 2}


def test_a_misrouted_llm_call_is_refused_and_audited(stack: RunningStack, client: httpx.Client) -> None:
    marker = uuid.uuid4().hex
    agent = spawn(client, ollama_only_class(client), f"[{marker}] Slow.\nplan:\nwait 30\n1. answer late [evidence: 1]",
                  ["fs.read_file"])
    token = agent_token(stack, agent["agent_id"])

    async def authorize(target: str) -> pb.AuthorizeResponse:
        async with stack.internal_channel(stack.policy_address, "kernel") as channel:
            return await pb_grpc.PolicyServiceStub(channel).Authorize(pb.AuthorizeRequest(
                token=token, kind=pb.SYSCALL_KIND_LLM_CALL, target=target, agent_id=agent["agent_id"],
                model="aos-scripted", max_input_tokens=100, max_output_tokens=100), timeout=20)

    for target in ("anthropic", "openai"):
        refused = asyncio.run(authorize(target))
        assert refused.decision == pb.DECISION_DENY
        assert refused.reason == "BACKEND_NOT_ALLOWED"
    denied = [e for e in audit_events(client, agent["session_id"]) if e["event_type"] == "SYSCALL_DENIED"]
    assert {e["payload"].get("reason") for e in denied} == {"BACKEND_NOT_ALLOWED"}
    assert len(denied) == 2
    assert "anthropic" not in requests_by_backend(stack, marker)
    client.post(f"/api/v1/agents/{agent['agent_id']}:cancel", json={})
