"""Request bodies against a real `python -m gateway` process (issue 13, item 4): a huge body on any
route is answered 413 while the client still has data to send, and a trickling body (or trickling
headers) gets 408 within the configured bounds. Raw sockets, so nothing in the client buffers or
completes the request for us."""

from __future__ import annotations

import asyncio
import json
import re
import select
import signal
import socket
import time

import httpx
import pytest
import pytest_asyncio

from tests.integration.test_gateway_edges import FakeBackends, free_port
from tests.integration.test_gateway_process import start_gateway, wait_for_health

IDLE_SECONDS = 1.0
TOTAL_SECONDS = 3.0
HEADER_SECONDS = 2.0
CHUNK = 64 * 1024
# Far past every limit (1 MiB API, 64 KiB dashboard forms), far short of the 400 MiB of the attack.
GIVE_UP_AFTER = 32 * 1024 * 1024

ROUTES = ["/ui/login", "/ui/approvals/a-1/approve", "/api/v1/agents", "/api/v1/tokens", "/api/v1/openapi.json",
          "/api/v1/no-such-route"]


@pytest_asyncio.fixture(scope="module")
async def backends():
    fakes = await FakeBackends().start()
    yield fakes
    await fakes.stop()


@pytest_asyncio.fixture(scope="module")
async def gateway_port(backends):
    port = free_port()
    process = await start_gateway(backends.env(
        "enforced", AOS_HTTP_PORT=str(port), AOS_GRPC_PORT=str(free_port()),
        AOS_HTTP_BODY_IDLE_SECONDS=str(IDLE_SECONDS), AOS_HTTP_BODY_TIMEOUT_SECONDS=str(TOTAL_SECONDS),
        AOS_HTTP_HEADER_TIMEOUT_SECONDS=str(HEADER_SECONDS),
    ))
    try:
        await wait_for_health(f"http://127.0.0.1:{port}/api/v1/health", process)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), timeout=15)


def open_request(port: int, path: str, headers: dict[str, str]) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/x-www-form-urlencoded"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    return sock


def read_answer(sock: socket.socket, timeout: float) -> tuple[int, dict]:
    """Status and JSON body of the one response on `sock`, read until the server closes."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    head, _, body = data.partition(b"\r\n\r\n")
    assert head, "no answer"
    status = int(head.split(b" ", 2)[1])
    assert b"connection: close" in head.lower()
    return status, json.loads(body)


def stream_until_answered(sock: socket.socket, chunk: bytes, framing) -> int:
    """Send `chunk` again and again until the server answers; the bytes sent by then."""
    sent = 0
    while sent < GIVE_UP_AFTER:
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            return sent
        try:
            sock.sendall(framing(chunk))
        except (BrokenPipeError, ConnectionResetError):
            return sent
        sent += len(chunk)
    readable, _, _ = select.select([sock], [], [], 5)
    assert readable, f"no answer after {sent} bytes: the gateway kept reading the body"
    return sent


def assert_contract_error(status: int, body: dict, expected: int) -> None:
    assert status == expected
    error = body["error"]
    assert error["code"] == expected and error["status"] == "INVALID_ARGUMENT"
    assert error["details"][0]["reason"] == "INVALID_ARGUMENT" and error["details"][0]["domain"] == "aosiq"


async def test_requests_within_the_limits_pass_through_both_layers(gateway_port, backends):
    # The dashboard's sign-in form and a REST body, each whole, reach their routes unharmed.
    token = backends.keys.mint()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway_port}", follow_redirects=False) as client:
        page = await client.get("/ui/login")
        nonce = re.search(r'name="login_nonce" value="([^"]*)"', page.text).group(1)
        signed_in = await client.post("/ui/login", data={"token": token, "login_nonce": nonce},
                                      headers={"origin": f"http://127.0.0.1:{gateway_port}"})
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/ui/"
        spawned = await client.post("/api/v1/agents", json={"agent_class": "c", "task": "x" * 900_000},
                                    headers={"authorization": f"Bearer {token}"})
        assert spawned.status_code == 200, spawned.text


def chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@pytest.mark.parametrize("path", ROUTES)
async def test_a_huge_chunked_body_is_refused_with_413_while_still_being_sent(gateway_port, path):
    def attack() -> tuple[int, int, dict]:
        sock = open_request(gateway_port, path, {"Transfer-Encoding": "chunked"})
        with sock:
            sent = stream_until_answered(sock, b"t" * CHUNK, chunked)
            return (sent, *read_answer(sock, 5))

    sent, status, body = await asyncio.to_thread(attack)
    assert_contract_error(status, body, 413)
    assert sent < GIVE_UP_AFTER


@pytest.mark.parametrize("path", ["/ui/login", "/api/v1/agents"])
async def test_a_body_longer_than_its_declared_length_is_refused_with_413(gateway_port, path):
    # Content-Length says 400 MiB: refused from the header alone, before a byte of body.
    def attack() -> tuple[int, dict]:
        with open_request(gateway_port, path, {"Content-Length": str(400 * 1024 * 1024)}) as sock:
            return read_answer(sock, 5)

    assert_contract_error(*await asyncio.to_thread(attack), 413)


@pytest.mark.parametrize("path", ["/ui/login", "/api/v1/agents"])
async def test_a_body_shorter_than_its_declared_length_times_out_with_408(gateway_port, path):
    def attack() -> tuple[float, int, dict]:
        with open_request(gateway_port, path, {"Content-Length": "100"}) as sock:
            sock.sendall(b"token=x")
            started = time.monotonic()
            status, body = read_answer(sock, TOTAL_SECONDS + 5)
            return time.monotonic() - started, status, body

    waited, status, body = await asyncio.to_thread(attack)
    assert_contract_error(status, body, 408)
    assert IDLE_SECONDS * 0.8 <= waited < IDLE_SECONDS + 2


@pytest.mark.parametrize("path", ["/ui/login", "/api/v1/agents"])
async def test_a_trickling_body_times_out_with_408_at_the_whole_body_deadline(gateway_port, path):
    # One byte every half second never leaves a gap as long as the idle bound; the total bound ends it.
    def attack() -> tuple[float, int, dict]:
        with open_request(gateway_port, path, {"Transfer-Encoding": "chunked"}) as sock:
            started = time.monotonic()
            while time.monotonic() - started < TOTAL_SECONDS + 5:
                if select.select([sock], [], [], IDLE_SECONDS / 2)[0]:
                    break
                try:
                    sock.sendall(chunked(b"x"))
                except (BrokenPipeError, ConnectionResetError):
                    break
            status, body = read_answer(sock, 5)
            return time.monotonic() - started, status, body

    waited, status, body = await asyncio.to_thread(attack)
    assert_contract_error(status, body, 408)
    assert TOTAL_SECONDS * 0.8 <= waited < TOTAL_SECONDS + 2


def timed_answer(sock: socket.socket, started: float) -> tuple[float, int, dict]:
    status, body = read_answer(sock, HEADER_SECONDS + 5)
    return time.monotonic() - started, status, body


async def test_a_connection_that_sends_nothing_gets_408_at_the_header_deadline(gateway_port):
    def attack() -> tuple[float, int, dict]:
        with socket.create_connection(("127.0.0.1", gateway_port), timeout=10) as sock:
            return timed_answer(sock, time.monotonic())

    waited, status, body = await asyncio.to_thread(attack)
    assert_contract_error(status, body, 408)
    assert HEADER_SECONDS * 0.8 <= waited < HEADER_SECONDS + 2


async def test_headers_that_trickle_in_get_408_at_the_header_deadline(gateway_port):
    # A complete first request, then a second one on the same connection whose headers trickle:
    # the deadline holds for every request, not only a connection's first.
    def attack() -> tuple[float, int, dict]:
        with socket.create_connection(("127.0.0.1", gateway_port), timeout=10) as sock:
            sock.sendall(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
            first = sock.recv(65536)
            assert first.startswith(b"HTTP/1.1 200")
            while b"\r\n\r\n" not in first or len(first.partition(b"\r\n\r\n")[2]) < int(
                first.lower().partition(b"content-length: ")[2].split(b"\r\n")[0]
            ):
                first += sock.recv(65536)
            started = time.monotonic()
            for byte in b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40:
                if select.select([sock], [], [], 0.25)[0]:
                    break
                try:
                    sock.sendall(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    break
            return timed_answer(sock, started)

    waited, status, body = await asyncio.to_thread(attack)
    assert_contract_error(status, body, 408)
    assert HEADER_SECONDS * 0.8 <= waited < HEADER_SECONDS + 2
