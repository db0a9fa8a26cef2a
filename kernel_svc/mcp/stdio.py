"""The stdio transport for MCP servers, with a bound on each message.

The SDK's own stdio client joins chunks into an unbounded line buffer on the
event loop: a server that writes one 50 MB line costs the kernel seconds of
loop time and the memory to hold it. This transport reads bytes, splits lines
in linear time and refuses a message over `max_message_bytes`: the server is
stopped and the session sees the connection end, so the call in flight fails
as a tool error. Spawning (own process group, minimal inherited environment)
and stopping (stdin closed, then the whole process tree killed) follow the SDK.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import TextIO

import anyio
import mcp_types as types
from mcp.client.stdio import get_default_environment
from mcp.os.posix.utilities import terminate_posix_process_tree
from mcp.shared.message import SessionMessage

log = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
STOP_GRACE_SECONDS = 2.0


class MessageTooLarge(Exception):
    """The server wrote a message over the bound; the connection was closed."""


@asynccontextmanager
async def bounded_stdio_client(command: list[str], env: dict[str, str], cwd: Path, errlog: TextIO,
                               max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                               on_overflow: Callable[[str], None] | None = None,
                               ) -> AsyncIterator[tuple[anyio.abc.ObjectReceiveStream[SessionMessage | Exception],
                                                        anyio.abc.ObjectSendStream[SessionMessage]]]:
    process = await anyio.open_process(command, env=get_default_environment() | env, cwd=str(cwd),
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog,
                                       start_new_session=True)
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)

    async def reader() -> None:
        assert process.stdout is not None
        pending = bytearray()
        async with read_writer:
            try:
                async for chunk in process.stdout:
                    pending += chunk
                    while (end := pending.find(b"\n")) >= 0:
                        line = bytes(pending[:end])
                        del pending[:end + 1]
                        if line.strip():
                            await read_writer.send(_parse(line))
                    if len(pending) > max_message_bytes:
                        log.warning("tool server message over the bound; connection closed",
                                    extra={"max_bytes": max_message_bytes})
                        refusal = f"a message over {max_message_bytes} bytes"
                        if on_overflow is not None:
                            on_overflow(refusal)
                        await read_writer.send(MessageTooLarge(refusal))
                        return
            except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError):
                return

    async def writer() -> None:
        assert process.stdin is not None
        try:
            async with write_reader:
                async for message in write_reader:
                    data = message.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n"
                    await process.stdin.send(data.encode())
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            await read_writer.aclose()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(reader)
        tasks.start_soon(writer)
        try:
            yield read_stream, write_stream
        finally:
            with anyio.CancelScope(shield=True):
                await _stop(process)
            tasks.cancel_scope.cancel()


def _parse(line: bytes) -> SessionMessage | Exception:
    try:
        return SessionMessage(types.jsonrpc_message_adapter.validate_json(line, by_name=False))
    except ValueError as error:
        return error


async def _stop(process: anyio.abc.Process) -> None:
    """Close stdin, give the server a moment to exit, then kill its whole process group."""
    assert process.stdin is not None
    with suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
        await process.stdin.aclose()
    with anyio.move_on_after(STOP_GRACE_SECONDS):
        await process.wait()
    if process.returncode is None:
        with suppress(OSError):
            await terminate_posix_process_tree(process, STOP_GRACE_SECONDS)
    if process.stdout is not None:
        with suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            await process.stdout.aclose()
    # Release the asyncio transport now rather than when it is collected (as the SDK does).
    close = getattr(getattr(getattr(process, "_process", None), "_transport", None), "close", None)
    if callable(close):
        close()
