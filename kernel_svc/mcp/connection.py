"""One live MCP session with one server, over stdio or streamable HTTP, through
the official `mcp` SDK.

The SDK's transports are context managers that must be entered and left in the
same task, so each connection has an owner task that opens the transport and
the session, signals ready, and holds them until closed. Calls come from any
task. A call that fails at the transport, times out or meets a dead server
closes the connection (a stdio server is stopped with it); the registry of
servers decides when to open a new one.

A stdio server gets only the environment it was registered with, over the
SDK's minimal base (HOME, LOGNAME, PATH, SHELL, TERM, USER): nothing of the
kernel's own settings or secrets. It runs in the workspace directory, and each
message it writes is bounded (kernel_svc/mcp/stdio.py). Its
stderr is read line by line, the registered secret values are masked, and what
remains goes to the kernel's log under the server's name.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from aos_common.logs import log_fields
from kernel_svc.mcp.stdio import bounded_stdio_client

log = logging.getLogger(__name__)

MAX_STDERR_LINE = 1000
# MCP error codes that mean the SDK gave up on the connection, not that the server answered.
_TRANSPORT_CODES = frozenset({types.CONNECTION_CLOSED, types.REQUEST_TIMEOUT})
LIST_CHANGED = "notifications/tools/list_changed"


class ConnectionFailed(Exception):
    """The server could not be reached, or stopped answering; the message is safe to show."""


class ServerRefused(Exception):
    """The server answered a request with an MCP error; the session is still usable."""


@dataclass(frozen=True, repr=False)
class Endpoint:
    """Where a server is and what it needs. `env` and `headers` are secrets."""

    name: str
    transport: str
    command: tuple[str, ...] = ()
    url: str = ""
    env: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Endpoint(name={self.name!r}, transport={self.transport!r})"

    def redact(self, text: str) -> str:
        """`text` with every secret value masked (for messages and logs)."""
        for value in (*self.env.values(), *self.headers.values()):
            if len(value) >= 4:
                text = text.replace(value, "***")
        return text


class Connection:
    def __init__(self, endpoint: Endpoint, workspace: Path, *,
                 on_list_changed: Callable[[], Coroutine[Any, Any, None]] | None = None):
        self._endpoint = endpoint
        self._workspace = workspace
        self._on_list_changed = on_list_changed
        self._session: ClientSession | None = None
        self._closing = asyncio.Event()
        self._owner: asyncio.Task[None] | None = None
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._stream_error = ""

    @property
    def open(self) -> bool:
        return self._session is not None and not self._closed

    async def start(self, timeout_s: float) -> None:
        """Open the transport and the session and initialize; ConnectionFailed otherwise."""
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._owner = asyncio.create_task(self._own(ready), name=f"mcp:{self._endpoint.name}")
        try:
            await asyncio.wait_for(asyncio.shield(ready), timeout_s)
        except TimeoutError:
            await self.close()
            raise ConnectionFailed(f"{self._endpoint.name} did not complete the MCP handshake within "
                                   f"{timeout_s:g} s") from None
        except ConnectionFailed:
            await self.close()
            raise

    async def list_tools(self, timeout_s: float) -> list[types.Tool]:
        """Every tool the server offers (all pages)."""
        tools: list[types.Tool] = []
        cursor: str | None = None
        for _ in range(64):
            params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await self._request(functools.partial(_list_page, params=params), timeout_s)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                return tools
        await self.close()
        raise ConnectionFailed(f"{self._endpoint.name} kept paging its tool list; stopped after 64 pages")

    async def call_tool(self, name: str, args: dict[str, Any], timeout_s: float) -> types.CallToolResult:
        result = await self._request(
            lambda s: s.call_tool(name, args, read_timeout_seconds=timeout_s), timeout_s)
        if not isinstance(result, types.CallToolResult):
            raise ConnectionFailed(f"{self._endpoint.name} answered tools/call with something else")
        return result

    async def close(self) -> None:
        """Stop the session (and a stdio server); bounded, never raises."""
        self._closed = True
        self._closing.set()
        owner, self._owner = self._owner, None
        if owner is not None and owner is not asyncio.current_task():
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(owner, 10)

    def _abandon(self) -> None:
        """Stop using this connection now; its owner task winds it down (and stops the server)."""
        self._closed = True
        self._closing.set()

    async def _request(self, send: Callable[[ClientSession], Awaitable[Any]], timeout_s: float) -> Any:
        session = self._session
        if session is None or self._closed:
            raise ConnectionFailed(f"{self._endpoint.name} is not connected")
        try:
            return await asyncio.wait_for(send(session), timeout_s)
        except TimeoutError:
            self._abandon()
            raise ConnectionFailed(f"{self._endpoint.name} did not answer within {timeout_s:g} s; "
                                   "the connection was closed") from None
        except MCPError as error:
            if self.open and error.code not in _TRANSPORT_CODES:
                raise ServerRefused(self._endpoint.redact(error.message)[:500]) from None
            self._abandon()
            detail = self._stream_error or error.message
            raise ConnectionFailed(f"{self._endpoint.name} failed: {self._endpoint.redact(detail)[:300]}") from None
        except (RuntimeError, ValueError, TypeError) as error:
            self._abandon()
            raise ConnectionFailed(f"{self._endpoint.name} failed: "
                                   f"{self._endpoint.redact(str(error))[:300]}") from None
        except (OSError, EOFError, httpx2.HTTPError) as error:
            self._abandon()
            raise ConnectionFailed(f"{self._endpoint.name} connection lost: "
                                   f"{self._endpoint.redact(str(error))[:300] or type(error).__name__}") from None

    async def _own(self, ready: asyncio.Future[None]) -> None:
        try:
            async with self._transport() as (read, write), ClientSession(
                    read, write, message_handler=self._on_message) as session:
                await session.initialize()
                self._session = session
                ready.set_result(None)
                await self._closing.wait()
        except BaseException as error:  # the transport's failure, whatever its type
            if not ready.done():
                detail = self._endpoint.redact(_describe(error))
                ready.set_exception(ConnectionFailed(f"{self._endpoint.name} could not be started: {detail}"))
            elif not self._closed:
                log.warning("tool server connection ended", extra=log_fields(
                    server=self._endpoint.name, error=self._endpoint.redact(_describe(error))))
            if isinstance(error, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
                raise
        finally:
            self._session = None
            self._closed = True

    @contextlib.asynccontextmanager
    async def _transport(self) -> AsyncIterator[Any]:
        endpoint = self._endpoint
        if endpoint.transport == "http":
            client = create_mcp_http_client(headers=dict(endpoint.headers),
                                            timeout=httpx2.Timeout(30.0, read=300.0))
            async with client, streamable_http_client(endpoint.url, http_client=client) as streams:
                yield streams[0], streams[1]
            return
        with _StderrRelay(endpoint) as errlog:
            async with bounded_stdio_client(list(endpoint.command), dict(endpoint.env), self._workspace,
                                            errlog, on_overflow=self._overflowed) as streams:
                yield streams

    def _overflowed(self, refusal: str) -> None:
        self._stream_error = f"the server wrote {refusal}; the connection was closed"

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, Exception):
            log.warning("tool server sent something that is not MCP", extra=log_fields(
                server=self._endpoint.name, error=self._endpoint.redact(str(message))[:200]))
            return
        method = getattr(getattr(message, "root", message), "method", "")
        if method == LIST_CHANGED and self._on_list_changed is not None:
            task = asyncio.create_task(self._on_list_changed())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


async def _list_page(session: ClientSession, *, params: types.PaginatedRequestParams | None
                     ) -> types.ListToolsResult:
    return await session.list_tools(params=params)


def _describe(error: BaseException) -> str:
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in error.exceptions)[:300]
    return (str(error) or type(error).__name__)[:300]


class _StderrRelay:
    """A pipe for the server's stderr, read by a thread into the log, secrets masked."""

    def __init__(self, endpoint: Endpoint):
        self._endpoint = endpoint

    def __enter__(self) -> Any:
        read_fd, write_fd = os.pipe()
        self._writer = os.fdopen(write_fd, "w")
        self._thread = threading.Thread(target=self._relay, args=(read_fd,), daemon=True,
                                        name=f"mcp-stderr:{self._endpoint.name}")
        self._thread.start()
        return self._writer

    def __exit__(self, *exc: object) -> None:
        self._writer.close()

    def _relay(self, read_fd: int) -> None:
        with os.fdopen(read_fd, "rb") as pipe:
            for raw in pipe:
                line = self._endpoint.redact(raw.decode("utf-8", "replace").rstrip())
                if line:
                    log.info("tool server stderr", extra=log_fields(server=self._endpoint.name,
                                                                     line=line[:MAX_STDERR_LINE]))
