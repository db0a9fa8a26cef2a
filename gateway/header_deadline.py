"""uvicorn's HTTP/1.1 protocol with a deadline on request headers (slowloris).

uvicorn times out only idle keep-alive connections, and only after a first
response: a client that connects and sends nothing, or sends its headers a byte
at a time, holds a connection for ever. This protocol arms a timer when a
connection opens and when the first bytes of a request arrive, and disarms it
once the headers are parsed (the body is `gateway.body_limit`'s). At the deadline
the client gets 408 with the contract's error body and the connection is closed.
"""

from __future__ import annotations

import asyncio
import json

import grpc
from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway.errors import error_body

DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0


def _timeout_response() -> bytes:
    body = error_body(grpc.StatusCode.INVALID_ARGUMENT, "request headers did not arrive in time", "INVALID_ARGUMENT")
    body["error"]["code"] = 408
    payload = json.dumps(body).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + payload


class HeaderDeadlineProtocol(H11Protocol):
    """H11Protocol whose requests must finish their headers within `header_timeout_seconds`."""

    header_timeout_seconds = DEFAULT_HEADER_TIMEOUT_SECONDS
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._between_requests():
            self._arm()
        super().data_received(data)
        if not self._between_requests():
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _between_requests(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_seconds, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not self._between_requests():
            return
        self.transport.write(_timeout_response())
        self.transport.close()


def with_header_timeout(seconds: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class to hand `uvicorn.Config(http=...)`, with this deadline."""
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout_seconds": seconds})
