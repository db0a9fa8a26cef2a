"""The fs pack stays inside the workspace: absolute paths, `..`, NUL bytes and
symlinks out are refused; deletion refuses symlinks and directories."""

from __future__ import annotations

import asyncio
import errno
import os
import time
from pathlib import Path

import pytest

from aos_common.errors import InvalidArgument
from kernel_svc.tools import fs
from kernel_svc.tools.builtin import builtin_registry
from kernel_svc.tools.registry import ToolContext, ToolError


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "notes").mkdir(parents=True)
    (root / "notes" / "q3.txt").write_text("Q3 revenue: 12M")
    (tmp_path / "secret.txt").write_text("outside the workspace")
    os.symlink(tmp_path / "secret.txt", root / "escape.txt")
    os.symlink(tmp_path, root / "escape_dir")
    os.symlink(root / "notes" / "q3.txt", root / "inside_link.txt")
    return root


def ctx(root: Path) -> ToolContext:
    return ToolContext(workspace=root, agent_id="a", session_id="s")


async def test_reads_inside(workspace: Path) -> None:
    assert await fs.read_file({"path": "notes/q3.txt"}, ctx(workspace)) == "Q3 revenue: 12M"
    assert "notes/" in await fs.list_dir({"path": "."}, ctx(workspace))


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        "../secret.txt",
        "notes/../../secret.txt",
        "notes/../..",
        "escape.txt",
        "escape_dir/secret.txt",
        "notes/q3.txt\x00.png",
        "~/secret.txt",
        "C:\\Windows\\win.ini",
        "..\\secret.txt",
    ],
)
async def test_confinement_refuses(workspace: Path, path: str) -> None:
    with pytest.raises(ToolError, match="refused"):
        await fs.read_file({"path": path}, ctx(workspace))
    with pytest.raises(ToolError, match="refused"):
        await fs.delete_file({"path": path}, ctx(workspace))
    assert (workspace.parent / "secret.txt").exists()


async def test_list_dir_refuses_symlinked_directory_out(workspace: Path) -> None:
    with pytest.raises(ToolError, match="refused"):
        await fs.list_dir({"path": "escape_dir"}, ctx(workspace))


async def test_delete_refuses_symlink_inside_and_directories(workspace: Path) -> None:
    with pytest.raises(ToolError, match="symlink"):
        await fs.delete_file({"path": "inside_link.txt"}, ctx(workspace))
    with pytest.raises(ToolError, match="not a regular file"):
        await fs.delete_file({"path": "notes"}, ctx(workspace))
    assert (workspace / "notes" / "q3.txt").exists()


async def test_delete_inside(workspace: Path) -> None:
    assert await fs.delete_file({"path": "notes/q3.txt"}, ctx(workspace)) == "deleted notes/q3.txt"
    assert not (workspace / "notes" / "q3.txt").exists()
    with pytest.raises(ToolError, match="no such file"):
        await fs.delete_file({"path": "notes/q3.txt"}, ctx(workspace))


async def test_read_is_capped(workspace: Path) -> None:
    (workspace / "big.txt").write_bytes(b"a" * (fs.MAX_READ_BYTES + 10))
    text = await fs.read_file({"path": "big.txt"}, ctx(workspace))
    assert text.endswith(f"truncated at {fs.MAX_READ_BYTES} bytes")


def test_registry_declares_danger_and_validates_args() -> None:
    registry = builtin_registry()
    delete = registry.get("fs.delete_file")
    assert delete is not None and not delete.reversible and delete.blast_radius == "high" and not delete.idempotent
    read = registry.get("fs.read_file")
    assert read is not None and read.reversible and read.idempotent
    read.validate({"path": "a.txt"})
    for bad in ({}, {"path": 3}, {"path": ""}, {"path": "a", "extra": 1}, ["a"]):
        with pytest.raises(InvalidArgument):
            read.validate(bad)


async def test_symlink_components_are_refused_even_inside(workspace: Path) -> None:
    os.symlink(workspace / "notes", workspace / "notes_link")
    for path in ("inside_link.txt", "notes_link/q3.txt"):
        with pytest.raises(ToolError, match="refused: it goes through a symlink"):
            await fs.read_file({"path": path}, ctx(workspace))
    with pytest.raises(ToolError, match="refused"):
        await fs.list_dir({"path": "notes_link"}, ctx(workspace))
    with pytest.raises(ToolError, match="refused"):
        await fs.delete_file({"path": "notes_link/q3.txt"}, ctx(workspace))
    assert (workspace / "notes" / "q3.txt").exists()


async def test_hard_link_to_an_outside_file_is_not_read(workspace: Path) -> None:
    os.link(workspace.parent / "secret.txt", workspace / "notes" / "hard.txt")
    with pytest.raises(ToolError, match="hard links"):
        await fs.read_file({"path": "notes/hard.txt"}, ctx(workspace))
    # Deleting the name removes only the workspace's link; the outside file keeps its data.
    assert await fs.delete_file({"path": "notes/hard.txt"}, ctx(workspace)) == "deleted notes/hard.txt"
    assert (workspace.parent / "secret.txt").read_text() == "outside the workspace"


async def test_a_fifo_is_refused_without_blocking(workspace: Path) -> None:
    os.mkfifo(workspace / "notes" / "pipe")
    started = time.monotonic()
    with pytest.raises(ToolError, match="not a regular file"):
        await asyncio.wait_for(fs.read_file({"path": "notes/pipe"}, ctx(workspace)), 5)
    with pytest.raises(ToolError, match="not a regular file"):
        await fs.delete_file({"path": "notes/pipe"}, ctx(workspace))
    assert time.monotonic() - started < 2


async def test_the_loop_keeps_running_while_a_read_is_in_flight(workspace: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A read that blocks in the OS (a stuck mount, say) blocks its thread, not the loop."""
    real_read = os.read

    def slow_read(fd: int, n: int) -> bytes:
        time.sleep(0.5)
        return real_read(fd, n)

    monkeypatch.setattr(fs.os, "read", slow_read)
    reading = asyncio.create_task(fs.read_file({"path": "notes/q3.txt"}, ctx(workspace)))
    ticks = 0
    while not reading.done():
        await asyncio.sleep(0.01)
        ticks += 1
    assert await reading == "Q3 revenue: 12M" and ticks > 20


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("a" * 300, "component of it is too long"),
        ("notes/" + "b" * 300 + "/x.txt", "component of it is too long"),
        ("notes/missing/x.txt", "no such file"),
        ("notes/q3.txt/x", "not a directory"),
        ("notes", "not a regular file"),
    ],
)
async def test_os_failures_are_clean_tool_errors(workspace: Path, path: str, message: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    for tool in (fs.read_file, fs.delete_file):
        with pytest.raises(ToolError, match=message):
            await tool({"path": path}, ctx(workspace))
    assert "Traceback" not in caplog.text


def test_every_errno_becomes_a_sentence() -> None:
    """The class, not the cases: any OSError maps to a ToolError naming the path."""
    for number in (errno.EACCES, errno.EPERM, errno.ELOOP, errno.ENAMETOOLONG, errno.EIO, errno.ENXIO):
        error = fs.refusal(OSError(number, "x"), "notes/q3.txt")
        assert isinstance(error, ToolError) and str(error).endswith(": notes/q3.txt")
    assert "permission denied" in str(fs.refusal(OSError(errno.EACCES, "x"), "p"))
