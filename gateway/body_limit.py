"""Request bodies are bounded in size and in time before any route sees them.

A pure ASGI layer in front of every HTTP route (REST transcoding, the OpenAPI
document, the dashboard's forms). It reads the body itself and hands the route
the bytes it read, so no route can buffer more than `max_bytes`:

- a `Content-Length` over the limit is answered 413 before a byte is read;
- a body without a length (chunked) or one whose length lies is refused with 413
  as soon as what has arrived passes the limit: the rest is never read, and the
  connection is closed;
- a body that trickles in is answered 408 once no byte arrived for
  `idle_seconds`, or the whole body took longer than `total_seconds`.

Both answers carry the contract's error body (status `INVALID_ARGUMENT`, reason
`INVALID_ARGUMENT`; the HTTP status is the finer word, as for 405).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import grpc
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import error_response

DEFAULT_TOTAL_SECONDS = 30.0
DEFAULT_IDLE_SECONDS = 10.0


@dataclass(frozen=True)
class BodyTimeouts:
    """Longest a whole body may take, and longest gap between two of its chunks."""

    total_seconds: float = DEFAULT_TOTAL_SECONDS
    idle_seconds: float = DEFAULT_IDLE_SECONDS


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


class _Disconnected(Exception):
    pass


class BodyLimit:
    """Reads each HTTP request's body within `max_bytes` and `timeouts`, then runs `app` on it."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeouts: BodyTimeouts | None = None):
        self._app = app
        self._max = max_bytes
        self._timeouts = timeouts or BodyTimeouts()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        try:
            self._check_declared(scope)
            body = await self._read(receive)
        except _TooLarge:
            await self._refuse(scope, receive, send, 413, f"request body is larger than {self._max} bytes")
            return
        except _TooSlow:
            await self._refuse(scope, receive, send, 408, "request body did not arrive in time")
            return
        except _Disconnected:
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                # After the body, a route only waits for the client to leave.
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self._app(scope, replay, send)

    def _check_declared(self, scope: Scope) -> None:
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.strip().isdigit() and int(value) > self._max:
                raise _TooLarge

    async def _read(self, receive: Receive) -> bytes:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeouts.total_seconds
        chunks: list[bytes] = []
        size = 0
        while True:
            wait = min(self._timeouts.idle_seconds, deadline - loop.time())
            if wait <= 0:
                raise _TooSlow
            try:
                message = await asyncio.wait_for(receive(), timeout=wait)
            except TimeoutError:
                raise _TooSlow from None
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
        # `Connection: close`: the unread rest of the body must not be parsed as the next request.
        response = error_response(
            grpc.StatusCode.INVALID_ARGUMENT, message, http_status=status, headers={"Connection": "close"}
        )
        await response(scope, receive, send)

