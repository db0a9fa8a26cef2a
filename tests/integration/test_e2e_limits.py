"""Session limits through the real services: a cost ceiling holds whatever a provider
reports (docs/THREAT_MODEL.md P9), and a session's agent count and spawn depth are
bounded over REST and through agents.spawn alike."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.integration.test_e2e_agents import audit_events, create_class, spawn, wait_for
from tests.stack import RunningStack


@pytest.fixture(scope="module")
def client(stack: RunningStack):
    stack.wait_healthy(90)
    with stack.client() as http:
        yield http


def test_a_provider_that_over_reports_cannot_pass_the_ceiling(client: httpx.Client) -> None:
    # The attack: a reply far longer than max_tokens (50 000 output tokens, 0.75 USD at the
    # scripted model's price) against a 0.20 USD session.
    ceiling = 0.20
    agent_class = create_class(client, capabilities=("fs.read_file",), ceiling=ceiling)
    task = "Write a very long essay.\nplan:\nusage 50000\n1. answer An essay far past max_tokens."
    agent = spawn(client, agent_class, task, ["fs.read_file"])
    done = wait_for(client, agent["agent_id"], {"completed", "failed", "abandoned_ungrounded"})

    assert done["state"] == "failed" and done["error"]["reason"] == "COST_OVERRUN", done
    assert "beyond the call's reservation" in done["error"]["message"]
    events = audit_events(client, agent["session_id"])
    (reserved,) = [e["payload"] for e in events if e["event_type"] == "SYSCALL_ALLOWED"]
    (completed,) = [e["payload"] for e in events if e["event_type"] == "SYSCALL_COMPLETED"]
    (overrun,) = [e["payload"] for e in events if e["event_type"] == "COST_OVERRUN_REPORTED"]
    assert completed["cost_usd"] == pytest.approx(reserved["reserved_usd"]) and completed["cost_usd"] <= ceiling
    assert overrun["output_tokens"] == 50000 and overrun["reported_usd"] > ceiling
    assert overrun["overrun_usd"] == pytest.approx(overrun["reported_usd"] - reserved["reserved_usd"])
    assert done["cost_usd"] == pytest.approx(reserved["reserved_usd"])
    changed = [e["payload"] for e in events if e["event_type"] == "AGENT_STATE_CHANGED"]
    assert changed[-1]["to_state"] == "failed"


def limited_class(client: httpx.Client, *, max_agents: int = 0, max_depth: int = 0) -> str:
    name = f"lim-{uuid.uuid4().hex[:8]}"
    reply = client.post("/api/v1/agent-classes", json={
        "name": name, "backend": "anthropic", "model": "aos-scripted", "allowed_backends": ["anthropic"],
        "capabilities": ["fs.read_file", "agents.spawn"], "cost_ceiling_usd": 5.0,
        "max_agents": max_agents, "max_depth": max_depth,
    })
    assert reply.status_code == 200, reply.text
    assert (reply.json()["max_agents"], reply.json()["max_depth"]) == (max_agents, max_depth)
    return name


def spawn_call(agent_class: str, task: str) -> str:
    return "call agents.spawn " + json.dumps({"agent_class": agent_class, "task": task,
                                              "grants": ["fs.read_file", "agents.spawn"]})


def refused_spawns(client: httpx.Client, session_id: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Wait for an agents.spawn in the session to be refused; the refusals on its chain."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        refusals = [e["payload"] for e in audit_events(client, session_id)
                    if e["event_type"] == "SYSCALL_COMPLETED" and e["payload"]["target"] == "agents.spawn"
                    and not e["payload"]["ok"]]
        if refusals:
            return refusals
        time.sleep(0.3)
    raise AssertionError(f"no agents.spawn was refused in session {session_id}")


def test_agent_count_is_refused_over_rest_with_429(client: httpx.Client) -> None:
    agent_class = limited_class(client, max_agents=2)
    task = "plan:\n1. answer nothing"
    root = spawn(client, agent_class, task, ["fs.read_file"])
    body = {"agent_class": agent_class, "task": task, "grants": ["fs.read_file"], "session_id": root["session_id"]}
    assert client.post("/api/v1/agents", json=body).status_code == 200
    over = client.post("/api/v1/agents", json=body)
    assert over.status_code == 429, over.text
    assert over.json()["error"]["details"][0]["reason"] == "AGENT_LIMIT_EXCEEDED"
    assert "max_agents 2" in over.json()["error"]["message"]


def test_agents_spawn_is_bounded_in_count(client: httpx.Client) -> None:
    agent_class = limited_class(client, max_agents=2)
    child = "plan:\n1. answer nothing"
    task = (f"Spawn twice.\nplan:\n1. {spawn_call(agent_class, child)}\n2. {spawn_call(agent_class, child)}\n"
            "3. answer Spawned. [evidence: 1]")
    root = spawn(client, agent_class, task, ["fs.read_file", "agents.spawn"])
    (refusal,) = refused_spawns(client, root["session_id"])
    assert "AGENT_LIMIT_EXCEEDED" in refusal["error"] and "max_agents 2" in refusal["error"]
    spawned = [e for e in audit_events(client, root["session_id"]) if e["event_type"] == "AGENT_SPAWNED"]
    assert len(spawned) == 2


def test_agents_spawn_is_bounded_in_depth(client: httpx.Client) -> None:
    agent_class = limited_class(client, max_depth=1)
    grandchild = "plan:\n1. answer nothing"
    child = f"plan:\n1. {spawn_call(agent_class, grandchild)}\n2. answer Tried. [evidence: 1]"
    task = f"Spawn a child.\nplan:\n1. {spawn_call(agent_class, child)}\n2. answer Spawned. [evidence: 1]"
    root = spawn(client, agent_class, task, ["fs.read_file", "agents.spawn"])
    (refusal,) = refused_spawns(client, root["session_id"])
    assert "AGENT_LIMIT_EXCEEDED" in refusal["error"] and "max_depth 1" in refusal["error"]
    depths = [e["payload"]["depth"] for e in audit_events(client, root["session_id"])
              if e["event_type"] == "AGENT_SPAWNED"]
    assert depths == [0, 1]
