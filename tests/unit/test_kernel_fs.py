"""The fs pack stays inside the workspace: absolute paths, `..`, NUL bytes and
symlinks out are refused; deletion refuses symlinks and directories."""

from __future__ import annotations

import os
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
    assert await fs.read_file({"path": "inside_link.txt"}, ctx(workspace)) == "Q3 revenue: 12M"
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
