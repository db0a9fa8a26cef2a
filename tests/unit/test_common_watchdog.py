"""A process whose event loop stops ticking exits hard, with one clear log line,
so its supervisor restarts it; a loop that keeps ticking is left alone."""

from __future__ import annotations

import subprocess
import sys
import time

from aos_common.watchdog import STALL_EXIT_CODE

PROGRAM = """
import asyncio, sys, time
from aos_common.logs import setup_logging
from aos_common.watchdog import start_watchdog

async def main(block: bool) -> None:
    start_watchdog("test", 0.5)
    for _ in range(15):
        if block:
            time.sleep(10)  # a blocking call on the loop
        await asyncio.sleep(0.1)

setup_logging("test", "INFO")
asyncio.run(main(sys.argv[1] == "block"))
"""


def run(mode: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, timeout=30)
    return done, time.monotonic() - started


def test_a_stalled_loop_exits_the_process() -> None:
    done, took = run("block")
    assert done.returncode == STALL_EXIT_CODE, done.stderr
    assert "event loop stalled" in done.stdout + done.stderr
    assert took < 8


def test_a_ticking_loop_is_left_alone() -> None:
    done, _ = run("tick")
    assert done.returncode == 0, done.stdout + done.stderr
