"""`kill -9` each service in turn under a steady load of REST clients.

While the victim is down, clients get clean, retryable errors — 503/504 in the
contract's shape, or (only while the gateway itself is down) a refused
connection — never a hang and never another 5xx. The launcher restarts the
victim; every agent whose spawn was answered 200 then completes, and every
one of their sessions' audit chains verifies against its anchors.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.faults.load import Load, agents_in_flight, prepare, unverified, verify_chains, wait_restarted, wait_terminal
from tests.stack import RunningStack, stack  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration

RATE = 8.0  # requests a second
BEFORE_SECONDS = 2.0  # load before the kill
AFTER_SECONDS = 3.0  # load after the stack is healthy again


@pytest.fixture(scope="module")
def client(stack: RunningStack) -> Iterator[httpx.Client]:  # noqa: F811
    stack.wait_healthy(90)
    with stack.client() as http:
        yield http


@pytest.mark.parametrize("victim", ["gateway", "kernel", "policy", "audit"])
def test_kill_9_under_load(stack: RunningStack, client: httpx.Client, victim: str) -> None:  # noqa: F811
    agent_class = prepare(stack, client)
    load = Load(stack, agent_class, rate=RATE, max_seconds=90)
    with load.running() as tally:
        time.sleep(BEFORE_SECONDS)
        in_flight = agents_in_flight(stack)
        old_pid = stack.kill(victim)
        new_pid = wait_restarted(stack, victim, old_pid)
        stack.wait_healthy(60)
        time.sleep(AFTER_SECONDS)

    agents = wait_terminal(client, list(tally.spawned), timeout=90)
    completed = [a for a in agents.values() if a["state"] == "completed"]
    broken = unverified(verify_chains(client, set(tally.spawned.values())))
    print(f"\nkill -9 {victim} under load: {tally.line()}; restarted (pid {old_pid} -> {new_pid}); "
          f"{in_flight} agents in flight at the kill; "
          f"agents {len(completed)}/{len(tally.spawned)} completed; "
          f"chains verified {len(tally.spawned) - len(broken)}/{len(tally.spawned)}")

    assert tally.server_errors == 0 and tally.unexpected == 0 and tally.hangs == 0, tally.samples
    if victim != "gateway":
        assert tally.refused == 0, tally.by_status
    assert tally.ok > 0 and in_flight > 0
    assert len(completed) == len(tally.spawned), {a: v["state"] for a, v in agents.items()
                                                  if v["state"] != "completed"}
    assert broken == {}
