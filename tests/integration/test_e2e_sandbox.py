"""code.run_python in a running stack: an agent computes a figure from a
workspace file in the sandbox and answers citing it; the syscall is on its
chain; health reports the sandbox."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.integration.test_e2e_agents import (
    TERMINAL,
    audit_events,
    client,
    create_class,
    fake_requests_for,
    spawn,
    wait_for,
)
from tests.stack import RunningStack, stack  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration
_ = client  # the module-scoped client fixture


def test_health_reports_the_sandbox(stack: RunningStack) -> None:  # noqa: F811
    health = httpx.get(stack.http_url + "/api/v1/health", timeout=10).json()
    assert health["sandbox"]["status"] == "ok", health


def test_agent_computes_from_a_workspace_file(stack: RunningStack, client: httpx.Client) -> None:  # noqa: F811
    data = stack.workspace / "sales"
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o755)
    stack.workspace.chmod(0o755)
    (data / "q3.csv").write_text("region,amount\nnorth,17\nsouth,25\n")
    program = ("import csv\nrows = list(csv.DictReader(open('/workspace/sales/q3.csv')))\n"
               "print('total', sum(int(r['amount']) for r in rows))")
    agent_class = create_class(client, capabilities=("code.run_python", "fs.read_file"))
    task = ("Total the Q3 sales.\nplan:\n"
            f"1. call code.run_python {json.dumps({'code': program, 'workspace': True})}\n"
            "2. answer Q3 sales total 42. [evidence: 1] marker-sandbox-sales")
    agent = spawn(client, agent_class, task, ["code.run_python", "fs.read_file"])
    done = wait_for(client, agent["agent_id"], TERMINAL, timeout=90)
    assert done["state"] == "completed", done
    last = json.dumps(fake_requests_for(stack, "marker-sandbox-sales")[-1]["body"])
    assert "total 42" in last and "limit_hit" in last and "wall_s" in last
    events = audit_events(client, agent["session_id"])
    allowed = [e for e in events
               if e["event_type"] == "SYSCALL_ALLOWED" and e["payload"]["target"] == "code.run_python"]
    completed = [e for e in events if e["event_type"] == "SYSCALL_COMPLETED"
                 and e["payload"].get("target") == "code.run_python"]
    assert len(allowed) == 1 and len(completed) == 1
    # The limits it ran under are on the chain with the ALLOW, before the code ran.
    assert allowed[0]["payload"]["limits"]["memory_mb"] == 512 and allowed[0]["payload"]["limits"]["wall_s"] == 15
    assert client.post(f"/api/v1/sessions/{agent['session_id']}:verify").json()["ok"] is True


def test_a_class_ceiling_lowers_the_limits_and_a_call_cannot_ask_for_more(client: httpx.Client,
                                                                          stack: RunningStack) -> None:  # noqa: F811
    name = f"cls-{uuid.uuid4().hex[:8]}"
    reply = client.post("/api/v1/agent-classes", json={
        "name": name, "backend": "anthropic", "model": "aos-scripted", "allowed_backends": ["anthropic"],
        "capabilities": ["code.run_python"], "cost_ceiling_usd": 5.0,
        "sandbox_limits": {"memory_mb": 64, "wall_s": 3},
    })
    assert reply.status_code == 200, reply.text
    assert reply.json()["sandbox_limits"] == {"memory_mb": 64, "wall_s": 3}
    bomb = {"code": "x = bytearray(200 * 1024 * 1024)\nprint('allocated')", "timeout_s": 100}
    task = ("Allocate.\nplan:\n"
            f"1. call code.run_python {json.dumps(bomb)}\n"
            "2. answer done. [evidence: 1] marker-sandbox-ceiling")
    agent = spawn(client, name, task, ["code.run_python"])
    assert wait_for(client, agent["agent_id"], TERMINAL, timeout=90)["state"] == "completed"
    allowed = [e for e in audit_events(client, agent["session_id"])
               if e["event_type"] == "SYSCALL_ALLOWED" and e["payload"]["target"] == "code.run_python"]
    limits = allowed[0]["payload"]["limits"]
    assert limits["memory_mb"] == 64 and limits["wall_s"] == 3 and limits["cpu_s"] == 10  # others: the defaults
    seen = json.dumps(fake_requests_for(stack, "marker-sandbox-ceiling")[-1]["body"])
    assert '\\"limit_hit\\": \\"memory\\"' in seen and "allocated" not in seen.split("untrusted_tool_output")[1]


@pytest.mark.parametrize("limits", [{"memory_mb": 0}, {"network": 1}, {"cpu_s": 1.5}])
def test_a_class_with_bad_sandbox_limits_is_refused(client: httpx.Client, limits: dict) -> None:
    reply = client.post("/api/v1/agent-classes", json={
        "name": f"cls-{uuid.uuid4().hex[:8]}", "backend": "anthropic", "model": "aos-scripted",
        "allowed_backends": ["anthropic"], "capabilities": ["code.run_python"], "cost_ceiling_usd": 5.0,
        "sandbox_limits": limits,
    })
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["details"][0]["reason"] == "INVALID_ARGUMENT"
    assert "sandbox_limits" in reply.json()["error"]["message"]
