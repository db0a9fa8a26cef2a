"""The anchor store (S3, here moto's server) goes away under load and comes back.

The outage is injected by stopping moto's HTTP server, so the audit service's
S3 calls get "connection refused", then starting a new server on the same
port. moto keeps buckets and objects in the test process's memory, not in the
server thread, so the object-locked bucket and the anchors written before the
outage are still there when it returns — as with a real store that was
unreachable rather than wiped.

Appends never wait for the store: clients see no error at all. Meanwhile
health's `audit_anchors.failures` rises and the backlog grows; once the store
is back the backlog drains to 0, failures stop rising, successes rise, and
every session verifies against anchors read from the store.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from moto.server import ThreadedMotoServer

from tests.faults.load import Load, prepare, unverified, verify_chains, wait_terminal
from tests.stack import RunningStack, stack  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration

RATE = 8.0
OUTAGE_SECONDS = 5.0
AFTER_SECONDS = 3.0


@pytest.fixture(scope="module")
def client(stack: RunningStack) -> Iterator[httpx.Client]:  # noqa: F811
    stack.wait_healthy(90)
    with stack.client() as http:
        yield http


def anchor_stats(stack: RunningStack) -> dict[str, Any]:  # noqa: F811
    return httpx.get(stack.http_url + "/api/v1/health", timeout=5).json()["audit_anchors"]


def wait_anchors(stack: RunningStack, done: Any, timeout: float) -> dict[str, Any]:  # noqa: F811
    deadline = time.monotonic() + timeout
    stats = anchor_stats(stack)
    while not done(stats) and time.monotonic() < deadline:
        time.sleep(0.5)
        stats = anchor_stats(stack)
    return stats


def test_anchor_store_outage_and_return(stack: RunningStack, client: httpx.Client) -> None:  # noqa: F811
    anchors = stack.anchors
    assert anchors is not None and anchors.server is not None
    port = int(anchors.endpoint.rsplit(":", 1)[1])
    agent_class = prepare(stack, client)
    load = Load(stack, agent_class, rate=RATE, max_seconds=90)
    with load.running() as tally:
        time.sleep(2.0)
        before = anchor_stats(stack)
        anchors.stop()
        time.sleep(OUTAGE_SECONDS)
        during = wait_anchors(stack, lambda s: s["failures"] > before["failures"] and s["backlog"] > 0, 20)
        returned = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        returned.start()
        anchors.server = returned  # stopped by the fixture
        time.sleep(AFTER_SECONDS)

    agents = wait_terminal(client, list(tally.spawned), timeout=90)
    completed = [a for a in agents.values() if a["state"] == "completed"]
    drained = wait_anchors(stack, lambda s: s["backlog"] == 0, 30)
    time.sleep(3.0)  # more than one anchoring tick: failures must have stopped rising
    after = anchor_stats(stack)
    answers = verify_chains(client, set(tally.spawned.values()))
    broken = unverified(answers)
    unanchored = [s for s, a in answers.items() if a.get("anchors_checked", 0) < 1]
    print(f"\nanchor store down {OUTAGE_SECONDS:g}s under load: {tally.line()}; "
          f"anchors before/during/after: successes {before['successes']}/{during['successes']}/{after['successes']}, "
          f"failures {before['failures']}/{during['failures']}/{after['failures']}, "
          f"backlog {before['backlog']}/{during['backlog']}/{after['backlog']}; "
          f"agents {len(completed)}/{len(tally.spawned)} completed; "
          f"chains verified {len(answers) - len(broken)}/{len(answers)}, "
          f"{len(answers) - len(unanchored)} with at least one anchor checked")

    assert tally.ok == tally.total > 0, tally.samples  # appends never wait for the store
    assert during["failures"] > before["failures"] and during["backlog"] > 0, during
    assert drained["backlog"] == 0 and after["backlog"] == 0, after
    assert after["failures"] == drained["failures"], (drained, after)
    assert after["successes"] > during["successes"]
    assert len(completed) == len(tally.spawned) > 0
    assert broken == {}
    assert unanchored == []
