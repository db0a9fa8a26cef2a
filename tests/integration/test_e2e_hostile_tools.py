"""A tool that hangs or a workspace that turns hostile never freezes the kernel,
and a kernel whose event loop stalls anyway is restarted by its supervisor.

The stack runs as real processes (`aosiq up`); tools run through InvokeTool in
the kernel's API process, the one that also answers health. Test hooks:
`hang_in_tool` makes sys.noop never finish, `stall_loop` makes fs.list_dir block
the event loop (kernel_svc/failpoints.py)."""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.test_e2e_agents import create_class, spawn
from tests.integration.test_e2e_invoke import invoke, wait_for_services
from tests.stack import RunningStack, stack  # noqa: F401  (the fixture)
from tests.unit.test_kernel_fs_race import exchange

pytestmark = pytest.mark.integration

MARKERS = Path(tempfile.mkdtemp(prefix="aos-failpoints-"))
TOOL_TIMEOUT_SECONDS = 2.0
STALL_SECONDS = 3.0
STACK_ENV = {
    "AOS_WORKERS": "0",
    "AOS_TOOL_TIMEOUT_SECONDS": str(TOOL_TIMEOUT_SECONDS),
    "AOS_LOOP_STALL_SECONDS": str(STALL_SECONDS),
    "AOS_KERNEL_FAILPOINT": f"hang_in_tool:sys.noop:{MARKERS / 'hang'},stall_loop:fs.list_dir:{MARKERS / 'stall'}",
    # This stack's kernel also meets a host where the sandbox cannot run (test_sandbox_fails_closed).
    "AOS_SANDBOX_BWRAP": "/nonexistent/bwrap",
}
TOOLS = ("fs.read_file", "fs.list_dir", "sys.noop")
HEALTH_BOUND_SECONDS = 1.5


@pytest.fixture(scope="module")
def client(stack: RunningStack) -> Iterator[httpx.Client]:  # noqa: F811
    wait_for_services(stack)
    with stack.client() as http:
        yield http


@pytest.fixture(scope="module")
def agent_id(client: httpx.Client) -> str:
    agent_class = create_class(client, capabilities=TOOLS)
    return str(spawn(client, agent_class, "face a hostile workspace", list(TOOLS))["agent_id"])


def kernel_health(stack: RunningStack) -> tuple[str, float]:  # noqa: F811
    """The kernel's status as health reports it, and how long health took to say so."""
    started = time.monotonic()
    try:
        reply = httpx.get(stack.http_url + "/api/v1/health", timeout=5.0).json()
        status = next(s["status"] for s in reply["services"] if s["name"] == "kernel")
    except (httpx.HTTPError, ValueError, KeyError, StopIteration):
        status = "no answer"
    return status, time.monotonic() - started


class HealthProbe:
    """Asks health every 0.2 s from a thread and keeps every answer that was not a prompt `ok`."""

    def __init__(self, stack: RunningStack):  # noqa: F811
        self._stack = stack
        self._done = threading.Event()
        self.probes = 0
        self.bad: list[tuple[str, float]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._done.is_set():
            status, took = kernel_health(self._stack)
            self.probes += 1
            if status != "ok" or took > HEALTH_BOUND_SECONDS:
                self.bad.append((status, round(took, 2)))
            self._done.wait(0.2)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()


def test_health_answers_while_a_tool_hangs_and_the_call_ends_at_its_deadline(
        stack: RunningStack, client: httpx.Client, agent_id: str) -> None:  # noqa: F811
    with HealthProbe(stack) as probe:
        started = time.monotonic()
        reply = invoke(client, agent_id, "sys.noop")
        took = time.monotonic() - started
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["decision"], body["ok"]) == ("ALLOW", False) and "did not finish within 2 s" in body["result"]
    assert TOOL_TIMEOUT_SECONDS <= took < TOOL_TIMEOUT_SECONDS + 5
    print(f"\nhanging tool: answered after {took:.1f}s, {probe.probes} health probes, {len(probe.bad)} late or not ok")
    assert probe.probes >= 5 and probe.bad == []


def test_a_file_swapped_for_a_fifo_never_freezes_the_kernel(
        stack: RunningStack, client: httpx.Client, agent_id: str) -> None:  # noqa: F811
    hostile = stack.workspace / "hostile"
    hostile.mkdir(parents=True, exist_ok=True)
    (hostile / "f.txt").write_text("plain")
    os.mkfifo(hostile / "pipe")
    done = threading.Event()
    flips = 0

    def flipper() -> None:
        nonlocal flips
        while not done.is_set():
            exchange(bytes(hostile / "f.txt"), bytes(hostile / "pipe"))
            flips += 1

    thread = threading.Thread(target=flipper, daemon=True)
    outcomes: dict[str, int] = {}
    with httpx.Client(base_url=stack.http_url, timeout=10.0,
                      headers={"Authorization": f"Bearer {stack.admin_token}"}) as short:
        with HealthProbe(stack) as probe:
            thread.start()
            try:
                deadline = time.monotonic() + 8
                while time.monotonic() < deadline:
                    try:
                        reply = invoke(short, agent_id, "fs.read_file", json.dumps({"path": "hostile/f.txt"}))
                        body = reply.json()
                        key = "read" if body.get("ok") else body.get("result", reply.text)[:40]
                    except httpx.HTTPError:
                        key = "no answer"
                    outcomes[key] = outcomes.get(key, 0) + 1
            finally:
                done.set()
                thread.join()
    print(f"\nfifo swap: {flips} flips, read_file outcomes {outcomes}, {probe.probes} health probes, "
          f"{len(probe.bad)} late or not ok")
    assert flips > 1000
    assert "no answer" not in outcomes and outcomes.get("not a regular file: hostile/f.txt", 0) > 0, outcomes
    assert probe.probes >= 10 and probe.bad == [], (probe.bad, outcomes)


def test_a_stalled_loop_gets_the_kernel_restarted(stack: RunningStack, client: httpx.Client,  # noqa: F811
                                                  agent_id: str) -> None:
    before = stack.pid("kernel")
    stalled_at = time.monotonic()
    caller = threading.Thread(target=invoke_quietly, args=(client, agent_id, "fs.list_dir"), daemon=True)
    caller.start()
    deadline = stalled_at + 90
    while time.monotonic() < deadline:
        try:
            now = stack.pid("kernel")
        except (FileNotFoundError, KeyError, ValueError):
            now = before
        if now != before and kernel_health(stack)[0] == "ok":
            break
        time.sleep(0.3)
    else:
        raise AssertionError("the stalled kernel was not restarted")
    restarted_after = time.monotonic() - stalled_at
    print(f"\nstalled loop: kernel pid {before} -> {stack.pid('kernel')}, serving again after {restarted_after:.1f}s")
    log = (stack.home / "logs" / "kernel.log").read_text()
    assert "event loop stalled" in log
    assert restarted_after > STALL_SECONDS
    # The restarted kernel serves tools again.
    reply = invoke(client, agent_id, "fs.list_dir")
    assert reply.status_code == 200 and reply.json()["ok"] is True, reply.text
    caller.join(30)


def invoke_quietly(client: httpx.Client, agent_id: str, tool: str) -> None:
    """A call whose answer does not matter (the kernel dies under it)."""
    try:
        invoke(client, agent_id, tool)
    except httpx.HTTPError:
        pass


def test_sandbox_fails_closed(stack: RunningStack, client: httpx.Client, agent_id: str) -> None:  # noqa: F811
    """No working bwrap: health says so, and code.run_python does not exist (never runs unsandboxed)."""
    health = httpx.get(stack.http_url + "/api/v1/health", timeout=5.0).json()
    assert health["sandbox"]["status"] == "unavailable" and "/nonexistent/bwrap" in health["sandbox"]["detail"]
    reply = invoke(client, agent_id, "code.run_python", json.dumps({"code": "print(1)"}))
    assert reply.status_code == 400 and "unknown tool" in reply.text, reply.text
