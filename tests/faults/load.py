"""Steady client load against the gateway, and the bookkeeping the fault tests assert on.

A `Load` sends requests at a fixed rate from a thread of its own (so the test
can inject a fault meanwhile) and sorts every outcome into a `Tally`. Every
request has a client timeout; one that runs into it counts as a hang. Requests
go to the stack's gateway on 127.0.0.1 only, and their number is capped.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.conftest import run_sync
from tests.faults.contract import contract_error
from tests.integration.test_e2e_agents import TERMINAL, create_class
from tests.stack import RunningStack

# The gateway gives up on a backend after AOS_BACKEND_TIMEOUT_SECONDS (30 s by
# default) and answers 504, so a request still open after this is a hang.
CLIENT_TIMEOUT_SECONDS = 35.0
RETRYABLE = {503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
# What the load sends, in this order, round and round.
MIX = ("spawn", "get_agent", "health", "list_classes", "get_agent", "audit_events", "spawn", "health")


@dataclass
class Tally:
    """Counted outcomes of one load run."""

    ok: int = 0
    retryable: int = 0  # 503/504 in the contract's shape (reason UNAVAILABLE)
    refused: int = 0  # no HTTP answer: connection refused or reset (the gateway process itself was down)
    server_errors: int = 0  # any other 5xx: a 500 is a bug, whatever its body
    unexpected: int = 0  # any other status, or an error body not in the contract's shape
    hangs: int = 0  # no answer within CLIENT_TIMEOUT_SECONDS
    latencies: list[float] = field(default_factory=list)  # of requests that got an HTTP answer
    by_status: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    spawned: dict[str, str] = field(default_factory=dict)  # agent_id -> session_id

    @property
    def total(self) -> int:
        return self.ok + self.retryable + self.refused + self.server_errors + self.unexpected + self.hangs

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

    def note(self, what: str) -> None:
        if len(self.samples) < 10:
            self.samples.append(what)

    def line(self) -> str:
        return (f"{self.total} requests, {self.ok} ok, {self.retryable} UNAVAILABLE (retryable), "
                f"{self.refused} connection refused/reset, {self.server_errors} other 5xx, "
                f"{self.unexpected} unexpected, {self.hangs} hangs; slowest answer {self.percentile(1.0):.2f}s")


class Load:
    """`rate` requests a second (a capped number) until stopped, from a background thread."""

    def __init__(self, stack: RunningStack, agent_class: str, rate: float, max_seconds: float,
                 mix: tuple[str, ...] = MIX):
        self._base_url = stack.http_url
        assert self._base_url.startswith("http://127.0.0.1:"), self._base_url
        self._token = stack.admin_token
        self._agent_class = agent_class
        self._rate = rate
        self._max_requests = int(rate * max_seconds)
        self._mix = mix
        self._stop = threading.Event()
        self.tally = Tally()

    @contextmanager
    def running(self) -> Iterator[Tally]:
        thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="fault-load", daemon=True)
        thread.start()
        try:
            yield self.tally
        finally:
            self._stop.set()
            thread.join(CLIENT_TIMEOUT_SECONDS + 10)
            assert not thread.is_alive(), "the load generator did not finish"

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=16)
        headers = {"Authorization": f"Bearer {self._token}"}
        async with httpx.AsyncClient(base_url=self._base_url, headers=headers, limits=limits,
                                     timeout=CLIENT_TIMEOUT_SECONDS) as client:
            started = time.monotonic()
            pending: set[asyncio.Task[None]] = set()
            for i in range(self._max_requests):
                if self._stop.is_set():
                    break
                await asyncio.sleep(max(0.0, started + i / self._rate - time.monotonic()))
                task = asyncio.create_task(self._one(client, self._mix[i % len(self._mix)], i))
                pending.add(task)
                task.add_done_callback(pending.discard)
            if pending:
                await asyncio.wait(pending, timeout=CLIENT_TIMEOUT_SECONDS + 5)

    async def _one(self, client: httpx.AsyncClient, kind: str, i: int) -> None:
        tally = self.tally
        began = time.monotonic()
        try:
            reply = await asyncio.wait_for(self._send(client, kind, i), CLIENT_TIMEOUT_SECONDS + 1)
        except (httpx.TimeoutException, TimeoutError):
            tally.hangs += 1
            tally.note(f"{kind}: no answer within {CLIENT_TIMEOUT_SECONDS}s")
            return
        except httpx.TransportError as exc:
            tally.refused += 1
            tally.by_status[type(exc).__name__] += 1
            return
        tally.latencies.append(time.monotonic() - began)
        self._classify(kind, reply)

    async def _send(self, client: httpx.AsyncClient, kind: str, i: int) -> httpx.Response:
        known = list(self.tally.spawned.items())
        if kind == "spawn":
            return await client.post("/api/v1/agents", json={
                "agent_class": self._agent_class, "task": short_task(f"load-{i}"), "grants": ["fs.read_file"]})
        if kind == "get_agent" and known:
            return await client.get(f"/api/v1/agents/{known[i % len(known)][0]}")
        if kind == "audit_events" and known:
            return await client.get(f"/api/v1/sessions/{known[i % len(known)][1]}/audit-events")
        if kind == "list_classes":
            return await client.get("/api/v1/agent-classes")
        return await client.get("/api/v1/health")

    def _classify(self, kind: str, reply: httpx.Response) -> None:
        tally = self.tally
        tally.by_status[str(reply.status_code)] += 1
        try:
            body = reply.json()
        except ValueError:
            body = None
        if reply.status_code == 200:
            tally.ok += 1
            if kind == "spawn":
                tally.spawned[body["agent_id"]] = body["session_id"]
            return
        shaped = contract_error(body, reply.status_code)
        if reply.status_code in RETRYABLE and shaped and body["error"]["status"] == RETRYABLE[reply.status_code] \
                and body["error"]["details"][0]["reason"] == "UNAVAILABLE":
            tally.retryable += 1
        elif reply.status_code >= 500:
            tally.server_errors += 1
            tally.note(f"{kind}: {reply.status_code} {reply.text[:300]}")
        else:
            tally.unexpected += 1
            tally.note(f"{kind}: {reply.status_code} {reply.text[:300]}")


def short_task(label: str, wait_seconds: int = 1) -> str:
    """A two-step scripted agent: read the shared fault file, then (the model taking
    `wait_seconds`) answer citing it."""
    return (f"[{label}] Read the fault note.\nplan:\n1. call fs.read_file {{\"path\": \"faults/note.txt\"}}\n"
            f"wait {wait_seconds}\n2. answer The note was read. [evidence: 1]")


def prepare(stack: RunningStack, client: httpx.Client) -> str:
    """The workspace file the short agents read, and a class for them; returns the class name."""
    note = stack.workspace / "faults" / "note.txt"
    note.parent.mkdir(parents=True, exist_ok=True)
    note.write_text("faults are injected on purpose")
    return create_class(client, capabilities=("fs.read_file",), ceiling=1000.0)


def wait_terminal(client: httpx.Client, agent_ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    """Poll until every agent is terminal or `timeout` passes; returns the last view of each."""
    deadline = time.monotonic() + timeout
    last: dict[str, dict[str, Any]] = {}
    open_ids = list(agent_ids)
    while open_ids and time.monotonic() < deadline:
        for agent_id in list(open_ids):
            try:
                reply = client.get(f"/api/v1/agents/{agent_id}", timeout=10)
            except httpx.TransportError:
                continue
            if reply.status_code == 200:
                last[agent_id] = reply.json()
                if last[agent_id]["state"] in TERMINAL:
                    open_ids.remove(agent_id)
        if open_ids:
            time.sleep(0.5)
    return last


def verify_chains(client: httpx.Client, session_ids: set[str]) -> dict[str, dict[str, Any]]:
    """session_id -> the answer of POST /api/v1/sessions/{id}:verify (an error body if it failed)."""
    return {session_id: client.post(f"/api/v1/sessions/{session_id}:verify", json={}, timeout=30).json()
            for session_id in sorted(session_ids)}


def unverified(answers: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {session_id: answer for session_id, answer in answers.items() if answer.get("ok") is not True}


async def _count_in_flight(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FROM kernel.agent_processes WHERE state IN ('runnable', 'running')"))
    finally:
        await conn.close()


def agents_in_flight(stack: RunningStack) -> int:
    """Agents runnable or running right now (read as the operator, straight from the database)."""
    return int(run_sync(_count_in_flight(stack.db.admin_dsn)))


def current_pid(stack: RunningStack, name: str) -> int | None:
    """The service's pid from runtime.json, or None while the launcher rewrites it."""
    try:
        return int(json.loads((stack.home / "runtime.json").read_text())["pids"][name])
    except (ValueError, KeyError, TypeError, FileNotFoundError):
        return None


def wait_restarted(stack: RunningStack, name: str, old_pid: int, timeout: float = 60.0) -> int:
    """Wait for the launcher to start `name` again; returns the new pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = current_pid(stack, name)
        if pid is not None and pid != old_pid and Path(f"/proc/{pid}").exists():
            return pid
        time.sleep(0.2)
    raise AssertionError(f"the launcher did not restart {name} within {timeout}s")
