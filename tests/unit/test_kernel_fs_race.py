"""Hostile workspace: a thread swaps a directory with a symlink to outside the
workspace (renameat2 RENAME_EXCHANGE, atomically, as fast as it can) while
fs.read_file and fs.delete_file run on paths through that directory. Neither may
ever reach outside: zero escapes over many thousands of flips.

`python -m tests.unit.test_kernel_fs_race` prints the figures docs/FAULTS.md quotes.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from kernel_svc.tools import fs
from kernel_svc.tools.registry import ToolContext, ToolError

AT_FDCWD = -100
RENAME_EXCHANGE = 2
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)


def exchange(a: bytes, b: bytes) -> None:
    """Swap two names atomically; without renameat2, a (non-atomic) rename loop."""
    if _renameat2 is not None and _renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0:
        return
    if _renameat2 is not None and ctypes.get_errno() not in (22, 38):  # EINVAL, ENOSYS: not supported here
        raise OSError(ctypes.get_errno(), "renameat2")
    os.rename(a, a + b".tmp")
    os.rename(b, a)
    os.rename(a + b".tmp", b)


@dataclass
class Figures:
    flips: int = 0
    reads: int = 0
    deletes: int = 0
    read_escapes: int = 0  # a read returned the outside file
    delete_escapes: int = 0  # a delete removed the outside file
    refused: int = 0
    errors: int = 0  # anything but a ToolError: the boundary would log an internal error


def build(tmp: Path) -> tuple[Path, Path]:
    root, outside = tmp / "ws", tmp / "outside"
    (root / "d").mkdir(parents=True)
    outside.mkdir()
    (root / "d" / "f.txt").write_text("inside")
    (outside / "f.txt").write_text("OUTSIDE")
    os.symlink(outside, root / "flip")  # swapped with d over and over
    return root, outside


def race(tmp: Path, seconds: float) -> Figures:
    root, outside = build(tmp)
    figures = Figures()
    done = threading.Event()
    names = (bytes(root / "d"), bytes(root / "flip"))

    def flipper() -> None:
        while not done.is_set():
            exchange(*names)
            figures.flips += 1

    async def attack() -> None:
        ctx = ToolContext(workspace=root, agent_id="a", session_id="s")
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline:
            n += 1
            try:
                figures.reads += 1
                if await fs.read_file({"path": "d/f.txt"}, ctx) != "inside":
                    figures.read_escapes += 1
            except ToolError:
                figures.refused += 1
            except OSError:
                figures.errors += 1
            # A victim under both names: a delete through d must only ever remove the inside one.
            victim = f"v{n}.txt"
            real_dir = root / "d" if (root / "d").is_dir() and not (root / "d").is_symlink() else root / "flip"
            for where in (real_dir, outside):
                (where / victim).write_text("v")
            try:
                figures.deletes += 1
                await fs.delete_file({"path": f"d/{victim}"}, ctx)
            except ToolError:
                figures.refused += 1
            except OSError:
                figures.errors += 1
            if not (outside / victim).exists():
                figures.delete_escapes += 1
            (outside / victim).unlink(missing_ok=True)

    thread = threading.Thread(target=flipper, daemon=True)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # interleave the flipper with every step of the tools
    thread.start()
    try:
        asyncio.run(attack())
    finally:
        done.set()
        thread.join()
        sys.setswitchinterval(interval)
    return figures


def test_no_read_or_delete_escapes_while_a_directory_flips(tmp_path: Path) -> None:
    figures = race(tmp_path, seconds=4.0)
    assert figures.flips > 5000 and figures.reads > 500 and figures.deletes > 500, figures
    # The race is real: some calls met the symlink and were refused.
    assert figures.refused > 0, figures
    assert (figures.read_escapes, figures.delete_escapes, figures.errors) == (0, 0, 0), figures


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        print(race(Path(scratch), seconds=10.0))
