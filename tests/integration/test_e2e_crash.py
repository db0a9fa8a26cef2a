"""Crash recovery with real processes: extra `python -m kernel_svc worker`
processes are SIGKILLed mid-LLM-call and mid-tool-call (right after an approved
delete ran, before its outcome was recorded) while other agents run, and one is
paused past the orphan threshold and resumed. Every agent still reaches a
terminal state, none is lost, the delete happens once, and the paused worker's
late write is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import run_sync
from tests.stack import ROOT, RunningStack, stack  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration

# The API kernel runs no workers here: every agent is advanced by the worker
# processes this test starts, kills and pauses.
STACK_ENV = {"AOS_WORKERS": "0", "AOS_HEARTBEAT_SECONDS": "1", "AOS_ORPHAN_AFTER_SECONDS": "3"}

READERS = 10
EXTERNAL_KILLS = 3
TERMINAL = {"completed", "failed", "abandoned_ungrounded", "cancelled"}


@dataclass
class Workers:
    """Worker processes, restarted after a kill as an orchestrator would."""

    env: dict[str, str]
    logs: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.logs / f"worker-{len(self.procs)}.log").open("ab")
        proc = subprocess.Popen([sys.executable, "-m", "kernel_svc", "worker"], env=self.env, cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def pids(self) -> set[int]:
        return {p.pid for p in self.procs if p.poll() is None}

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("worker-*.log")))


async def _running(dsn: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT id, worker_id, attempts, checkpoint->'inflight'->>'kind' AS inflight "
                                "FROM kernel.agent_processes WHERE state = 'running'")
        return [dict(r) for r in rows]
    finally:
        await conn.close()


async def _scalar(dsn: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


def pid_of(worker_id: str | None) -> int:
    return int(worker_id.split(":")[1]) if worker_id else -1


def test_agents_survive_worker_crashes(stack: RunningStack, tmp_path: Path) -> None:  # noqa: F811
    marker = tmp_path / "failpoint.fired"
    env = {**os.environ, **stack.service_env("kernel"), "AOS_WORKERS": "2",
           "AOS_KERNEL_FAILPOINT": f"after_effect:fs.delete_file:{marker}"}
    workers = Workers(env, tmp_path)
    for _ in range(3):
        workers.start()
    try:
        run_scenario(stack, workers, marker)
    finally:
        workers.stop_all()


def run_scenario(stack: RunningStack, workers: Workers, marker: Path) -> None:  # noqa: F811
    dsn = stack.db.admin_dsn
    stack.wait_healthy(90)
    crash_dir = stack.workspace / "crash"
    crash_dir.mkdir(parents=True, exist_ok=True)
    victim = crash_dir / "victim.txt"
    victim.write_text("delete me once")
    with stack.client() as client:
        cls = f"crash-{uuid.uuid4().hex[:6]}"
        assert client.post("/api/v1/agent-classes", json={
            "name": cls, "backend": "anthropic", "model": "aos-scripted", "allowed_backends": ["anthropic"],
            "capabilities": ["fs.read_file", "fs.delete_file"], "cost_ceiling_usd": 10.0,
        }).status_code == 200
        agent_ids = []
        for i in range(READERS):
            (crash_dir / f"f{i}.txt").write_text(f"fact {i}")
            task = (f"Reader {i}.\nplan:\nwait 2\n1. call fs.read_file {{\"path\": \"crash/f{i}.txt\"}}\n"
                    f"wait 2\n2. answer Fact {i} read. [evidence: 1]")
            reply = client.post("/api/v1/agents", json={"agent_class": cls, "task": task, "grants": ["fs.read_file"]})
            assert reply.status_code == 200, reply.text
            agent_ids.append(reply.json()["agent_id"])
        deleter_task = ("Remove the victim.\nplan:\n1. call fs.read_file {\"path\": \"crash/victim.txt\"}\n"
                        "2. call fs.delete_file {\"path\": \"crash/victim.txt\"}\n3. answer Removed. [evidence: 1]")
        reply = client.post("/api/v1/agents", json={"agent_class": cls, "task": deleter_task,
                                                    "grants": ["fs.read_file", "fs.delete_file"]})
        deleter = reply.json()["agent_id"]
        agent_ids.append(deleter)

        kills, paused, approved, canary_written = 0, None, False, False
        stale_resumed = False
        deadline = time.monotonic() + 240
        next_kill = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            agents = {a: client.get(f"/api/v1/agents/{a}").json() for a in agent_ids}
            if all(a["state"] in TERMINAL for a in agents.values()) and canary_written and stale_resumed:
                break
            running = run_sync(_running(dsn))
            live = workers.pids()

            # The approval: the operator approves the delete once it is pending.
            if not approved and agents[deleter]["state"] == "waiting_approval":
                pending = client.get("/api/v1/approvals", params={"state": "pending"}).json()["approvals"]
                mine = [p for p in pending if p["agent_id"] == deleter]
                if mine:
                    assert client.post(f"/api/v1/approvals/{mine[0]['approval_id']}:approve",
                                       json={"args_hash": mine[0]["args_hash"]}).status_code == 200
                    approved = True

            # The failpoint killed a worker right after the delete: put a canary in place.
            # A second delete would remove it.
            if marker.exists() and not canary_written:
                assert not victim.exists()
                victim.write_text("canary")
                canary_written = True
                workers.start()

            # External kills mid-LLM-call (the scripted model is waiting 2 s).
            if kills < EXTERNAL_KILLS and time.monotonic() >= next_kill:
                target = next((r for r in running if r["inflight"] == "llm" and pid_of(r["worker_id"]) in live
                               and (paused is None or pid_of(r["worker_id"]) != paused[0])), None)
                if target is not None:
                    os.kill(pid_of(target["worker_id"]), signal.SIGKILL)
                    kills += 1
                    workers.start()
                    next_kill = time.monotonic() + 2.5
                    continue  # `running` and `live` are stale now

            # One pause past the orphan threshold: the agent is recovered by another
            # worker while this one sleeps; on waking its late write must be refused.
            if paused is None and kills >= 1:
                target = next((r for r in running if r["inflight"] == "llm" and pid_of(r["worker_id"]) in live),
                              None)
                if target is not None:
                    pid = pid_of(target["worker_id"])
                    os.kill(pid, signal.SIGSTOP)
                    paused = (pid, str(target["id"]), target["attempts"])
                    workers.start()
            elif paused is not None and not stale_resumed:
                pid, agent_id, epoch = paused
                now_epoch = run_sync(_scalar(dsn, "SELECT attempts FROM kernel.agent_processes WHERE id = $1",
                                             uuid.UUID(agent_id)))
                state = agents.get(agent_id, {}).get("state")
                if now_epoch > epoch + 1 or state in TERMINAL:
                    os.kill(pid, signal.SIGCONT)
                    stale_resumed = True
            time.sleep(0.2)

        final = {a: client.get(f"/api/v1/agents/{a}").json() for a in agent_ids}
        print(f"crash test: {len(agent_ids)} agents, {kills} external SIGKILLs mid-LLM-call, "
              f"1 SIGKILL mid-tool-call (failpoint fired: {marker.exists()}), 1 SIGSTOP/SIGCONT, "
              f"{len(workers.procs)} worker processes started")
        assert kills == EXTERNAL_KILLS
        assert marker.exists() and canary_written and stale_resumed
        not_done = {a: s["state"] for a, s in final.items() if s["state"] not in TERMINAL}
        assert not_done == {}, not_done
        assert len(final) == READERS + 1
        readers = [final[a] for a in agent_ids[:READERS]]
        assert all(r["state"] == "completed" for r in readers), [r["state"] for r in readers]
        assert final[deleter]["state"] == "completed", final[deleter]

        # The irreversible effect happened once: the canary written after it survived.
        assert victim.read_text() == "canary"
        executions = run_sync(_scalar(dsn, "SELECT count(*) FROM kernel.tool_executions WHERE agent_id = $1",
                                      uuid.UUID(deleter)))
        assert executions == 1
        recovered = run_sync(_scalar(dsn, "SELECT sum(recoveries) FROM kernel.agent_processes"))
        assert recovered >= EXTERNAL_KILLS + 2

        # The paused worker woke up, tried to write for a claim it no longer held, and was refused.
        time.sleep(3)
        assert "claim superseded; this worker's write was refused" in workers.log_text()
        health = httpx.get(stack.http_url + "/api/v1/health", timeout=5).json()
        assert health["scheduler"]["orphans_recovered"] >= EXTERNAL_KILLS + 2
