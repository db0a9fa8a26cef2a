"""The `fs` pack: list, read and delete files, confined to the workspace root.

Confinement: a path is relative, has no `..` part, no NUL byte, and after
resolving every symlink it still lies inside the root. Deletion also refuses a
symlink itself, so a link inside the workspace cannot be used to remove what it
points at.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from kernel_svc.tools.registry import Tool, ToolContext, ToolError

MAX_READ_BYTES = 256 * 1024
MAX_LIST_ENTRIES = 500
MAX_PATH_CHARS = 1024

_PATH_SCHEMA = {"type": "string", "minLength": 1, "maxLength": MAX_PATH_CHARS}


def confine(root: Path, raw: str) -> Path:
    """The real path `raw` names inside `root`, or ToolError saying why it is refused."""
    if "\x00" in raw:
        raise ToolError("path refused: it contains a NUL byte")
    if raw.startswith(("/", "\\", "~")) or PurePosixPath(raw).is_absolute() or (len(raw) > 1 and raw[1] == ":"):
        raise ToolError("path refused: absolute paths are not allowed; use a path relative to the workspace")
    parts = PurePosixPath(raw.replace("\\", "/")).parts
    if ".." in parts:
        raise ToolError("path refused: '..' is not allowed")
    real_root = root.resolve()
    candidate = real_root.joinpath(*parts) if parts else real_root
    resolved = candidate.resolve()
    if not resolved.is_relative_to(real_root):
        raise ToolError("path refused: it resolves outside the workspace (symlink?)")
    return resolved


def _unresolved(root: Path, raw: str) -> Path:
    return root.resolve().joinpath(*PurePosixPath(raw.replace("\\", "/")).parts)


async def list_dir(args: Mapping[str, Any], ctx: ToolContext) -> str:
    directory = confine(ctx.workspace, str(args.get("path", ".")))
    if not directory.is_dir():
        raise ToolError(f"not a directory: {args.get('path', '.')}")
    entries = sorted(directory.iterdir(), key=lambda p: p.name)
    lines = [f"{entry.name}{'/' if entry.is_dir() else ''}" for entry in entries[:MAX_LIST_ENTRIES]]
    if len(entries) > MAX_LIST_ENTRIES:
        lines.append(f"... {len(entries) - MAX_LIST_ENTRIES} more entries not shown")
    return "\n".join(lines) if lines else "(empty directory)"


async def read_file(args: Mapping[str, Any], ctx: ToolContext) -> str:
    path = confine(ctx.workspace, str(args["path"]))
    if not path.is_file():
        raise ToolError(f"no such file: {args['path']}")
    with path.open("rb") as handle:
        data = handle.read(MAX_READ_BYTES + 1)
    text = data[:MAX_READ_BYTES].decode("utf-8", errors="replace")
    if len(data) > MAX_READ_BYTES:
        text += f"\n... truncated at {MAX_READ_BYTES} bytes"
    return text


async def delete_file(args: Mapping[str, Any], ctx: ToolContext) -> str:
    raw = str(args["path"])
    path = confine(ctx.workspace, raw)
    try:
        mode = os.lstat(_unresolved(ctx.workspace, raw)).st_mode
    except FileNotFoundError:
        raise ToolError(f"no such file: {raw}") from None
    if stat.S_ISLNK(mode):
        raise ToolError("path refused: deleting a symlink is not allowed")
    if not stat.S_ISREG(mode):
        raise ToolError(f"not a regular file: {raw}")
    path.unlink()
    return f"deleted {raw}"


def fs_tools() -> list[Tool]:
    return [
        Tool(
            name="fs.list_dir",
            description="List the entries of a directory in the workspace (directories end with '/').",
            parameters={
                "type": "object",
                "properties": {"path": {**_PATH_SCHEMA, "description": "Relative path; '.' is the root."}},
                "additionalProperties": False,
            },
            reversible=True,
            blast_radius="low",
            idempotent=True,
            run=list_dir,
        ),
        Tool(
            name="fs.read_file",
            description=f"Read a text file from the workspace (at most {MAX_READ_BYTES} bytes).",
            parameters={
                "type": "object",
                "properties": {"path": {**_PATH_SCHEMA, "description": "Relative path of the file."}},
                "required": ["path"],
                "additionalProperties": False,
            },
            reversible=True,
            blast_radius="low",
            idempotent=True,
            run=read_file,
        ),
        Tool(
            name="fs.delete_file",
            description="Delete a file from the workspace. Irreversible: an operator must approve each call.",
            parameters={
                "type": "object",
                "properties": {"path": {**_PATH_SCHEMA, "description": "Relative path of the file."}},
                "required": ["path"],
                "additionalProperties": False,
            },
            reversible=False,
            blast_radius="high",
            idempotent=False,
            run=delete_file,
        ),
    ]
