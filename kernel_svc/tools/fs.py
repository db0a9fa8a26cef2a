"""The `fs` pack: list, read and delete files, confined to the workspace root.

Confinement holds by construction, not by a check made before the use: a path
is split into components (relative, no `..`, no NUL byte) and walked from a
descriptor of the root with `openat(..., O_NOFOLLOW)` on every component, so a
symlink anywhere in the path is refused by the kernel at the moment of use and
swapping a directory for a symlink between two calls cannot lead outside.
What is read is checked on the opened descriptor (`fstat`): only a regular
file with one link (a hard link to an outside file is refused), opened
`O_NONBLOCK` so a FIFO or device cannot block. A delete is `unlinkat` relative
to the descriptor of its confined parent. The blocking calls run in a thread,
never on the event loop, and every OS failure becomes a ToolError saying what
was refused.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from kernel_svc.tools.registry import Tool, ToolContext, ToolError

MAX_READ_BYTES = 256 * 1024
MAX_LIST_ENTRIES = 500
MAX_PATH_CHARS = 1024

T = TypeVar("T")
_PATH_SCHEMA = {"type": "string", "minLength": 1, "maxLength": MAX_PATH_CHARS}
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | _CLOEXEC
# errno → what the model is told; anything else is reported by its strerror.
_REFUSALS = {
    errno.ELOOP: "path refused: it goes through a symlink, and symlinks are not followed",
    errno.ENAMETOOLONG: "path refused: a component of it is too long",
    errno.ENOENT: "no such file or directory",
    errno.ENOTDIR: "not a directory",
    errno.EISDIR: "is a directory",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


def components(raw: str) -> list[str]:
    """The components of `raw` relative to the root, or ToolError saying why the path is refused."""
    if "\x00" in raw:
        raise ToolError("path refused: it contains a NUL byte")
    if raw.startswith(("/", "\\", "~")) or PurePosixPath(raw).is_absolute() or (len(raw) > 1 and raw[1] == ":"):
        raise ToolError("path refused: absolute paths are not allowed; use a path relative to the workspace")
    parts = [part for part in PurePosixPath(raw.replace("\\", "/")).parts if part not in ("", ".")]
    if ".." in parts:
        raise ToolError("path refused: '..' is not allowed")
    return parts


def refusal(error: OSError, raw: str) -> ToolError:
    """The ToolError for an OS failure on `raw`: the class of failure, never a traceback."""
    reason = _REFUSALS.get(error.errno or 0) or os.strerror(error.errno or errno.EIO)
    return ToolError(f"{reason}: {raw[:200]}")


@contextmanager
def open_dir(root: Path, parts: list[str]) -> Iterator[int]:
    """A descriptor of the directory `parts` names under `root`, walked one
    `openat(O_NOFOLLOW | O_DIRECTORY)` at a time; closed on exit."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    try:
        for part in parts:
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except NotADirectoryError:
                if stat.S_ISLNK(os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode):
                    raise OSError(errno.ELOOP, "symlink component") from None
                raise
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _list(root: Path, raw: str) -> str:
    with open_dir(root, components(raw)) as fd, os.scandir(fd) as listing:
        entries = sorted((entry.name, entry.is_dir(follow_symlinks=False)) for entry in listing)
    lines = [f"{name}{'/' if is_dir else ''}" for name, is_dir in entries[:MAX_LIST_ENTRIES]]
    if len(entries) > MAX_LIST_ENTRIES:
        lines.append(f"... {len(entries) - MAX_LIST_ENTRIES} more entries not shown")
    return "\n".join(lines) if lines else "(empty directory)"


def _read(root: Path, raw: str) -> bytes:
    parts = components(raw)
    if not parts:
        raise ToolError(f"not a regular file: {raw[:200]}")
    with open_dir(root, parts[:-1]) as parent:
        fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=parent)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ToolError(f"not a regular file: {raw[:200]}")
        if info.st_nlink > 1:
            raise ToolError(f"path refused: the file has {info.st_nlink} hard links, and linked files are not read")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_READ_BYTES:
            chunk = os.read(fd, MAX_READ_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _delete(root: Path, raw: str) -> None:
    """Unlink a regular file relative to its confined parent. unlinkat never follows
    a symlink and removes only this name: a hard link's other names keep their data."""
    parts = components(raw)
    if not parts:
        raise ToolError(f"not a regular file: {raw[:200]}")
    with open_dir(root, parts[:-1]) as parent:
        mode = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False).st_mode
        if stat.S_ISLNK(mode):
            raise ToolError("path refused: deleting a symlink is not allowed")
        if not stat.S_ISREG(mode):
            raise ToolError(f"not a regular file: {raw[:200]}")
        os.unlink(parts[-1], dir_fd=parent)


async def _off_loop(function: Callable[[Path, str], T], root: Path, raw: str) -> T:
    """Run a blocking fs operation in a thread; OS failures become ToolErrors."""
    try:
        return await asyncio.to_thread(function, root, raw)
    except OSError as error:
        raise refusal(error, raw) from None


async def list_dir(args: Mapping[str, Any], ctx: ToolContext) -> str:
    return await _off_loop(_list, ctx.workspace, str(args.get("path", ".")))


async def read_file(args: Mapping[str, Any], ctx: ToolContext) -> str:
    data = await _off_loop(_read, ctx.workspace, str(args["path"]))
    text = data[:MAX_READ_BYTES].decode("utf-8", errors="replace")
    if len(data) > MAX_READ_BYTES:
        text += f"\n... truncated at {MAX_READ_BYTES} bytes"
    return text


async def delete_file(args: Mapping[str, Any], ctx: ToolContext) -> str:
    raw = str(args["path"])
    await _off_loop(_delete, ctx.workspace, raw)
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
