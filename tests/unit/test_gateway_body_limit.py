"""BodyLimit at the ASGI level: bytes the layer pulls from the server are counted, so a test fails
when a body is read past its limit or a trickle is waited on without bound."""

from __future__ import annotations

import asyncio
import json
import time

from starlette.types import Message

from gateway.body_limit import BodyLimit, BodyTimeouts

LIMIT = 1024
CHUNK = 256


class Client:
    """The server side of one request: hands out chunks and counts what was taken."""

    def __init__(self, chunks, headers=(), delay: float = 0.0):
        self._chunks = iter(chunks)
        self.headers = list(headers)
        self.delay = delay
        self.received = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if self.delay:
            await asyncio.sleep(self.delay)
        chunk = next(self._chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        self.received += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return self.sent[0]["status"]

    @property
    def headers_out(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    def error(self) -> dict:
        return json.loads(b"".join(m.get("body", b"") for m in self.sent[1:]))["error"]


class Recorder:
    def __init__(self):
        self.bodies: list[bytes] = []

    async def __call__(self, scope, receive, send) -> None:
        message = await receive()
        self.bodies.append(message["body"])
        assert message["more_body"] is False
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def endless(chunk: bytes = b"x" * CHUNK):
    while True:
        yield chunk


async def run(client: Client, timeouts: BodyTimeouts | None = None) -> Recorder:
    app = Recorder()
    scope = {"type": "http", "method": "POST", "path": "/ui/login", "headers": client.headers}
    await BodyLimit(app, LIMIT, timeouts)(scope, client.receive, client.send)
    return app


def assert_refused(client: Client, status: int) -> None:
    assert client.status == status
    assert client.headers_out[b"connection"] == b"close"
    error = client.error()
    assert error["code"] == status and error["status"] == "INVALID_ARGUMENT"
    assert error["details"][0]["reason"] == "INVALID_ARGUMENT"


async def test_a_body_within_the_limit_reaches_the_route_whole():
    client = Client([b"a" * CHUNK, b"b" * CHUNK])
    app = await run(client)
    assert app.bodies == [b"a" * CHUNK + b"b" * CHUNK] and client.status == 200


async def test_a_declared_length_over_the_limit_is_413_before_a_byte_is_read():
    client = Client(endless(), headers=[(b"content-length", str(400 * 1024 * 1024).encode())])
    app = await run(client)
    assert_refused(client, 413)
    assert client.received == 0 and app.bodies == []


async def test_a_chunked_body_without_length_stops_being_read_at_the_limit():
    client = Client(endless())
    app = await run(client)
    assert_refused(client, 413)
    assert client.received <= LIMIT + CHUNK and app.bodies == []


async def test_a_declared_length_that_lies_low_is_still_cut_at_the_limit():
    client = Client(endless(), headers=[(b"content-length", b"10")])
    app = await run(client)
    assert_refused(client, 413)
    assert client.received <= LIMIT + CHUNK and app.bodies == []


async def test_a_body_that_stops_arriving_is_408_after_the_idle_gap():
    client = Client(endless(b"x"), delay=5.0)
    started = time.monotonic()
    app = await run(client, BodyTimeouts(total_seconds=30, idle_seconds=0.2))
    assert time.monotonic() - started < 2
    assert_refused(client, 408)
    assert app.bodies == []


async def test_a_trickle_that_never_pauses_long_is_408_at_the_total_deadline():
    # One byte every 50 ms never trips the idle gap; the whole-body deadline still ends it.
    client = Client(endless(b"x"), delay=0.05)
    started = time.monotonic()
    app = await run(client, BodyTimeouts(total_seconds=0.5, idle_seconds=0.2))
    assert time.monotonic() - started < 2
    assert_refused(client, 408)
    assert client.received < LIMIT and app.bodies == []


async def test_a_client_that_leaves_mid_body_runs_no_route():
    async def gone() -> dict:
        return {"type": "http.disconnect"}

    app = Recorder()
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    await BodyLimit(app, LIMIT)({"type": "http", "headers": []}, gone, send)
    assert app.bodies == [] and sent == []
