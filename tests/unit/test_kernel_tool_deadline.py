"""Every tool runs under the boundary's per-call deadline, and any failure of a
tool reaches the model as a tool error, never as an internal error with a traceback."""

from __future__ import annotations

import asyncio
import errno
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from kernel_svc.failpoints import Failpoints
from kernel_svc.syscalls import SyscallBoundary
from kernel_svc.tools import fs
from kernel_svc.tools.registry import Tool, ToolContext, ToolFunction


def tool(run: ToolFunction) -> Tool:
    return Tool(name="test.tool", description="", parameters={"type": "object"}, reversible=True,
                blast_radius="low", idempotent=True, run=run)


def boundary(timeout: float = 0.3, failpoint: str = "") -> SyscallBoundary:
    return SyscallBoundary(policy=None, store=None, failpoints=Failpoints(failpoint),  # type: ignore[arg-type]
                           tool_timeout_s=timeout)


CTX = ToolContext(workspace=Path("/nonexistent"), agent_id="a", session_id="s")


async def test_a_hanging_tool_becomes_a_tool_error_at_its_deadline() -> None:
    async def hang(_args: Mapping[str, Any], _ctx: ToolContext) -> str:
        await asyncio.Event().wait()
        return ""

    started = time.monotonic()
    outcome = await boundary(0.3)._execute(tool(hang), {}, CTX)
    assert not outcome.ok and "did not finish within 0.3 s" in outcome.text
    assert time.monotonic() - started < 2


async def test_the_hang_failpoint_hangs_inside_the_deadline(tmp_path: Path) -> None:
    async def quick(_args: Mapping[str, Any], _ctx: ToolContext) -> str:
        return "done"

    fp = f"hang_in_tool:test.tool:{tmp_path / 'marker'}"
    outcome = await boundary(0.3, fp)._execute(tool(quick), {}, CTX)
    assert not outcome.ok and "did not finish" in outcome.text
    assert (await boundary(0.3, fp)._execute(tool(quick), {}, CTX)).text == "done"  # once per marker


@pytest.mark.parametrize("number", [errno.ENAMETOOLONG, errno.ELOOP, errno.EACCES, errno.EIO])
async def test_any_os_error_of_any_tool_is_a_clean_tool_error(number: int, caplog: pytest.LogCaptureFixture) -> None:
    async def fails(_args: Mapping[str, Any], _ctx: ToolContext) -> str:
        raise OSError(number, "boom")

    outcome = await boundary()._execute(tool(fails), {}, CTX)
    assert not outcome.ok and "internal error" not in outcome.text and outcome.text.startswith("test.tool failed: ")
    assert "Traceback" not in caplog.text


async def test_long_component_through_the_boundary(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    read = next(t for t in fs.fs_tools() if t.name == "fs.read_file")
    ctx = ToolContext(workspace=tmp_path, agent_id="a", session_id="s")
    outcome = await boundary()._execute(read, {"path": "x" * 1000}, ctx)
    assert (outcome.ok, outcome.text) == (False, "path refused: a component of it is too long: " + "x" * 200)
    assert "Traceback" not in caplog.text


async def test_a_timeout_inside_the_tool_is_not_mistaken_for_the_deadline() -> None:
    async def times_out(_args: Mapping[str, Any], _ctx: ToolContext) -> str:
        raise TimeoutError

    outcome = await boundary(5.0)._execute(tool(times_out), {}, CTX)
    assert not outcome.ok and "did not finish" not in outcome.text and outcome.text.startswith("test.tool failed")
