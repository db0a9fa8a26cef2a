"""What every benchmark shares: the whole stack as real processes, latency
statistics, the machine's description, and where results go.

The stack is the one users run (`python -m aosiq up`, via tests/stack.py) on an
embedded PostgreSQL in a temporary directory, with anchors going to a moto S3
server in a process of its own (so it does not share the load generator's GIL).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil

from aosiq.database import create_database, start_embedded, with_database
from aosiq.launcher import free_port
from aosiq.migrate import migrate
from tests.conftest import TestDatabase
from tests.stack import AnchorStore, RunningStack, start_stack, stop_stack

RESULTS = Path(__file__).resolve().parent / "results"
SERVICES = ("gateway", "kernel", "policy", "audit")


@dataclass(frozen=True)
class Latencies:
    """One measured load level: per-call latencies (seconds) over a wall-clock span."""

    samples: list[float]
    wall_seconds: float
    errors: int

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.samples)
        return {
            "calls": len(ordered),
            "errors": self.errors,
            "p50_ms": 1000 * percentile(ordered, 50),
            "p99_ms": 1000 * percentile(ordered, 99),
            "mean_ms": 1000 * statistics.fmean(ordered),
            "throughput_per_s": len(ordered) / self.wall_seconds,
        }


def percentile(ordered: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


async def closed_loop(call: Callable[[int], Awaitable[None]], concurrency: int, seconds: float,
                      warmup_calls: int = 20) -> Latencies:
    """`concurrency` callers each issuing the next call as soon as the last one returns.

    Caller `i` passes `i` to `call` (so each can use its own agent). Warm-up calls
    are made first, by all callers at once, and not counted: an HTTP client opens
    its connections then, not inside the measured window."""

    async def warm(index: int) -> None:
        for _ in range(max(2, -(-warmup_calls // concurrency))):
            await call(index)

    await asyncio.gather(*(warm(i) for i in range(concurrency)))
    samples: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def caller(index: int) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                await call(index)
            except Exception:  # counted, never hidden: a benchmark with errors is reported as such
                errors += 1
                continue
            samples.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(concurrency)))
    return Latencies(samples, time.perf_counter() - start, errors)


def machine() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_when_written": os.getloadavg(),
    }


def write_results(name: str, results: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only backend (installed by the `bench` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


Run = TypeVar("Run")


def median_run(runs: list[Run], key: Callable[[Run], float]) -> Run:
    """The run whose `key` is the median (the lower middle one for an even count)."""
    ordered = sorted(runs, key=key)
    return ordered[(len(ordered) - 1) // 2]


@contextmanager
def moto_server() -> Iterator[AnchorStore]:
    """moto's S3 server as a separate process, with an object-locked bucket."""
    port = free_port()
    process = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = AnchorStore(endpoint=f"http://127.0.0.1:{port}", bucket="aosiq-anchors",
                        access_key_id="audit-anchor-writer", secret_access_key=uuid.uuid4().hex)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                store.client().create_bucket(Bucket=store.bucket, ObjectLockEnabledForBucket=True)
                break
            except Exception:  # the server is not up yet
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.3)
        yield store
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def running_stack(overrides: dict[str, str]) -> Iterator[RunningStack]:
    """A fresh database and the four services (plus the scripted LLM) for one benchmark."""
    with tempfile.TemporaryDirectory(prefix="aos-bench-") as tmp:
        home = Path(tmp)
        server, admin_dsn = start_embedded(home / "pgdata")
        try:
            name = f"aos_bench_{uuid.uuid4().hex[:8]}"
            asyncio.run(_fresh_database(admin_dsn, name))
            db = TestDatabase(name=name, admin_dsn=with_database(admin_dsn, name))
            with moto_server() as anchors:
                # Production anchoring cadence, not the tests' fast one.
                settings = {"AOS_ANCHOR_EVERY_EVENTS": "100", "AOS_ANCHOR_EVERY_SECONDS": "10", **overrides}
                stack = start_stack(home / "aos", db, anchors, settings)
                try:
                    wait_for_services(stack)
                    yield stack
                finally:
                    stop_stack(stack)
        finally:
            server.cleanup()


async def _fresh_database(admin_dsn: str, name: str) -> None:
    await migrate(await create_database(admin_dsn, name))


def wait_for_services(stack: RunningStack, timeout: float = 120.0) -> None:
    """Every service answers health (the scheduler may report `degraded` when no worker runs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            health = httpx.get(stack.http_url + "/api/v1/health", timeout=2.0).json()
            if health.get("services") and all(s["status"] == "ok" for s in health["services"]):
                return
        except (httpx.HTTPError, ValueError, FileNotFoundError, KeyError):
            pass
        time.sleep(0.3)
    raise RuntimeError("the stack did not come up")


def service_rss_mib(stack: RunningStack) -> dict[str, float]:
    return {name: psutil.Process(stack.pid(name)).memory_info().rss / 2**20 for name in SERVICES}


def create_class(client: httpx.Client, capabilities: list[str], ceiling_usd: float = 1000.0) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    reply = client.post("/api/v1/agent-classes", json={
        "name": name, "backend": "anthropic", "model": "aos-scripted", "allowed_backends": ["anthropic"],
        "capabilities": capabilities, "cost_ceiling_usd": ceiling_usd,
    })
    reply.raise_for_status()
    return name


def spawn(client: httpx.Client, agent_class: str, task: str, grants: list[str]) -> dict[str, Any]:
    reply = client.post("/api/v1/agents", json={"agent_class": agent_class, "task": task, "grants": grants})
    reply.raise_for_status()
    return dict(reply.json())
