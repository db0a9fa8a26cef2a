"""Soak: a fixed request rate for a set time, with every service's memory sampled.

`AOS_SOAK_SECONDS` (default 20) and `AOS_SOAK_RATE` (requests a second, default
20) size the run; CI uses the defaults, a longer soak is one variable away.
Passes when every request is answered 200 in time, every agent spawned during
the soak completes with a verifying chain, and each service's resident memory
is flat: the median of the last third of the samples is at most the median of
the first third times 1.2, plus 10 MB. Samples start after a short warm-up, so start-up
allocations (imports, pools, caches) are not mistaken for a leak.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest

from tests.faults.load import Load, prepare, unverified, verify_chains, wait_terminal
from tests.stack import RunningStack, stack  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration

SOAK_SECONDS = float(os.environ.get("AOS_SOAK_SECONDS", "20"))
SOAK_RATE = float(os.environ.get("AOS_SOAK_RATE", "20"))
WARMUP_SECONDS = 3.0
SAMPLE_EVERY_SECONDS = 0.5
SERVICES = ("gateway", "kernel", "policy", "audit")
MB = 1024 * 1024
# Mostly reads, one spawn in ten: about 2 agents a second at the default rate.
SOAK_MIX = ("spawn", "get_agent", "health", "get_agent", "list_classes", "audit_events", "get_agent", "health",
            "list_classes", "get_agent")


@pytest.fixture(scope="module")
def client(stack: RunningStack) -> Iterator[httpx.Client]:  # noqa: F811
    stack.wait_healthy(90)
    with stack.client() as http:
        yield http


def thirds(samples: list[int]) -> tuple[float, float]:
    third = max(1, len(samples) // 3)
    return statistics.median(samples[:third]), statistics.median(samples[-third:])


def test_soak_fixed_rate(stack: RunningStack, client: httpx.Client) -> None:  # noqa: F811
    agent_class = prepare(stack, client)
    processes = {name: psutil.Process(stack.pid(name)) for name in SERVICES}
    rss: dict[str, list[int]] = {name: [] for name in SERVICES}
    load = Load(stack, agent_class, rate=SOAK_RATE, max_seconds=WARMUP_SECONDS + SOAK_SECONDS, mix=SOAK_MIX)
    started = time.monotonic()
    with load.running() as tally:
        time.sleep(WARMUP_SECONDS)
        while time.monotonic() < started + WARMUP_SECONDS + SOAK_SECONDS:
            for name, process in processes.items():
                rss[name].append(process.memory_info().rss)
            time.sleep(SAMPLE_EVERY_SECONDS)
        time.sleep(1.0)  # the last scheduled requests go out

    agents = wait_terminal(client, list(tally.spawned), timeout=120)
    completed = [a for a in agents.values() if a["state"] == "completed"]
    broken = unverified(verify_chains(client, set(tally.spawned.values())))
    memory = {name: thirds(samples) for name, samples in rss.items()}
    figures = ", ".join(f"{name} {first / MB:.0f}->{last / MB:.0f} MB" for name, (first, last) in memory.items())
    print(f"\nsoak {SOAK_SECONDS:g}s at {SOAK_RATE:g} req/s (+{WARMUP_SECONDS:g}s warm-up): {tally.line()}; "
          f"p50 {tally.percentile(0.5) * 1000:.0f} ms, p99 {tally.percentile(0.99) * 1000:.0f} ms; "
          f"RSS median first->last third: {figures}; "
          f"agents {len(completed)}/{len(tally.spawned)} completed; "
          f"chains verified {len(tally.spawned) - len(broken)}/{len(tally.spawned)}")

    assert tally.total == int(SOAK_RATE * (WARMUP_SECONDS + SOAK_SECONDS))
    assert tally.ok == tally.total, (tally.by_status, tally.samples)
    assert all(process.is_running() for process in processes.values()), "a service restarted during the soak"
    grown = {name: (first, last) for name, (first, last) in memory.items() if last > first * 1.2 + 10 * MB}
    assert grown == {}, figures
    assert len(completed) == len(tally.spawned) > 0
    assert broken == {}
