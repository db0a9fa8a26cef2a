"""A token that expires while its agent waits for approval: the agent is suspended
(recoverable, visible in the API and in health), `aosiq agents renew` re-mints it,
and after approval it finishes. Also drives the rest of `aosiq agents`."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from aosiq.cli import app as aosiq_app
from aosiq.cli_agents import app
from tests.stack import RunningStack, stack  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration

STACK_ENV = {"AOS_TOKEN_TTL_SECONDS": "6"}


def wait_state(client: httpx.Client, agent_id: str, wanted: set[str], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    agent: dict[str, Any] = {}
    while time.monotonic() < deadline:
        agent = client.get(f"/api/v1/agents/{agent_id}").json()
        if agent.get("state") in wanted:
            return agent
        time.sleep(0.3)
    raise AssertionError(f"agent {agent_id} never reached {wanted}: {agent}")


def cli(running: RunningStack, *args: str) -> Any:
    result = CliRunner().invoke(app, [*args, "--address", running.grpc_address, "--token", running.admin_token])
    return result


def test_expired_token_suspends_and_renew_resumes(stack: RunningStack) -> None:  # noqa: F811
    stack.wait_healthy(90)
    (stack.workspace / "tmp.txt").write_text("scratch")
    with stack.client() as client:
        cls = f"renew-{uuid.uuid4().hex[:6]}"
        assert client.post("/api/v1/agent-classes", json={
            "name": cls, "backend": "openai", "model": "aos-scripted", "allowed_backends": ["openai"],
            "capabilities": ["fs.read_file", "fs.delete_file"], "cost_ceiling_usd": 5.0,
        }).status_code == 200
        task = ("Clean up.\nplan:\n1. call fs.read_file {\"path\": \"tmp.txt\"}\n"
                "2. call fs.delete_file {\"path\": \"tmp.txt\"}\n3. answer Cleaned. [evidence: 1]")
        spawned = cli(stack, "spawn", cls, task, "-g", "fs.read_file", "-g", "fs.delete_file", "--json")
        assert spawned.exit_code == 0, spawned.output
        agent = json.loads(spawned.output)
        agent_id = agent["agent_id"]
        assert agent["state"] == "runnable"

        wait_state(client, agent_id, {"waiting_approval"})
        suspended = wait_state(client, agent_id, {"suspended_token_expired"}, timeout=30)
        assert suspended["error"]["reason"] == "TOKEN_EXPIRED"
        health = httpx.get(stack.http_url + "/api/v1/health", timeout=5).json()
        assert health["scheduler"]["suspended_token_expired"] >= 1

        listed = cli(stack, "list", "--state", "suspended_token_expired", "--json")
        assert agent_id in [a["agent_id"] for a in json.loads(listed.output)["agents"]]

        renewed = cli(stack, "renew", agent_id, "--json")
        assert renewed.exit_code == 0, renewed.output
        body = json.loads(renewed.output)
        assert body["state"] == "waiting_approval" and body["token_jti"] != agent["token_jti"]

        pending = client.get("/api/v1/approvals", params={"state": "pending"}).json()["approvals"]
        (approval,) = [a for a in pending if a["agent_id"] == agent_id]
        assert client.post(f"/api/v1/approvals/{approval['approval_id']}:approve",
                           json={"args_hash": approval["args_hash"]}).status_code == 200
        done = wait_state(client, agent_id, {"completed", "failed", "abandoned_ungrounded",
                                             "suspended_token_expired"}, timeout=30)
        assert done["state"] == "completed", done
        assert not (stack.workspace / "tmp.txt").exists()

        again = cli(stack, "renew", agent_id)
        assert again.exit_code == 3 and "INVALID_TRANSITION" in again.output
        shown = cli(stack, "get", agent_id)
        assert shown.exit_code == 0 and "completed" in shown.output
        missing = cli(stack, "cancel", str(uuid.uuid4()))
        assert missing.exit_code == 3 and "NOT_FOUND" in missing.output


def test_status_prints_the_runtimes_health(stack: RunningStack) -> None:  # noqa: F811
    """No token needed: health is public, as over REST."""
    stack.wait_healthy(90)
    shown = CliRunner().invoke(aosiq_app, ["status", "--address", stack.grpc_address])
    assert shown.exit_code == 0, shown.output
    assert "runtime       ok" in shown.output and "audit anchors" in shown.output and "0 failed" in shown.output
    as_json = CliRunner().invoke(aosiq_app, ["status", "--json", "--address", stack.grpc_address])
    assert as_json.exit_code == 0 and json.loads(as_json.output)["status"] == "ok"
