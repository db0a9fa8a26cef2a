"""Session limits through the real services: a cost ceiling holds whatever a provider
reports (docs/THREAT_MODEL.md P9)."""

from __future__ import annotations

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
