"""`python -m gateway` as operators run it: both ports up, a clean stop, a clear error on a taken port."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import ssl
import sys
import time
from pathlib import Path

import grpc
import httpx
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aos_common import tls
from tests.integration.test_gateway_edges import FakeBackends, free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest_asyncio.fixture(scope="module")
async def backends():
    fakes = await FakeBackends().start()
    yield fakes
    await fakes.stop()


async def start_gateway(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway",
        cwd=ROOT, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def wait_for_health(url: str, process: asyncio.subprocess.Process,
                          verify: ssl.SSLContext | bool = True) -> httpx.Response:
    deadline = time.monotonic() + 15
    async with httpx.AsyncClient(verify=verify) as client:
        while time.monotonic() < deadline:
            assert process.returncode is None, "gateway exited early"
            try:
                return await client.get(url, timeout=3)
            except httpx.TransportError:
                await asyncio.sleep(0.2)
    raise AssertionError("gateway did not come up")


async def test_serves_both_ports_logs_requests_and_stops_on_sigterm(backends):
    http_port, grpc_port = free_port(), free_port()
    process = await start_gateway(
        backends.env("enforced", AOS_HTTP_PORT=str(http_port), AOS_GRPC_PORT=str(grpc_port))
    )
    try:
        token = backends.keys.mint()
        response = await wait_for_health(f"http://127.0.0.1:{http_port}/api/v1/health", process)
        assert response.status_code == 200 and response.json()["status"] == "ok"
        async with httpx.AsyncClient() as client:
            agent = await client.get(
                f"http://127.0.0.1:{http_port}/api/v1/agents/a-7", headers={"authorization": f"Bearer {token}"}
            )
        assert agent.status_code == 200 and agent.json()["agent_id"] == "a-7"
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            check = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert check.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=10)
    assert process.returncode == 0, stderr.decode()
    lines = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("msg") == "request"]
    assert {"method": "GET", "path": "/api/v1/agents/a-7", "status": 200}.items() <= requests[-1].items()
    assert "duration_ms" in requests[-1]
    assert token not in stderr.decode()
    assert any(line.get("msg") == "stopped" for line in lines)


async def test_public_ports_serve_tls_when_given_a_certificate(backends, tmp_path: Path):
    tls.issue_local(tmp_path, ["gateway"])  # a certificate for localhost / 127.0.0.1
    trust = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    http_port, grpc_port = free_port(), free_port()
    process = await start_gateway(backends.env(
        "enforced", AOS_HTTP_PORT=str(http_port), AOS_GRPC_PORT=str(grpc_port),
        AOS_PUBLIC_TLS_CERT_FILE=str(tmp_path / "gateway.crt"), AOS_PUBLIC_TLS_KEY_FILE=str(tmp_path / "gateway.key"),
    ))
    try:
        health = await wait_for_health(f"https://127.0.0.1:{http_port}/api/v1/health", process, verify=trust)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        async with httpx.AsyncClient(verify=trust) as client:
            agent = await client.get(f"https://127.0.0.1:{http_port}/api/v1/agents/a-7",
                                     headers={"authorization": f"Bearer {backends.keys.mint()}"})
            assert agent.status_code == 200
            login = await client.get(f"https://127.0.0.1:{http_port}/ui/login")
            assert "secure" in login.headers["set-cookie"].lower()  # the dashboard's cookies follow the scheme
        async with httpx.AsyncClient() as plaintext:
            with pytest.raises(httpx.TransportError):
                await plaintext.get(f"http://127.0.0.1:{http_port}/api/v1/health", timeout=5)
        credentials = grpc.ssl_channel_credentials(root_certificates=(tmp_path / "ca.crt").read_bytes())
        async with grpc.aio.secure_channel(f"127.0.0.1:{grpc_port}", credentials) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            check = await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)  # type: ignore[attr-defined]  # the stub omits what HealthStub.__init__ sets
        assert check.status == health_pb2.HealthCheckResponse.SERVING
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                stub = health_pb2_grpc.HealthStub(channel)
                await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)  # type: ignore[attr-defined]  # the stub omits what HealthStub.__init__ sets
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "aosiq", "agents", "get", "a-7", "--json",
            "--address", f"127.0.0.1:{grpc_port}", "--token", backends.keys.mint(),
            cwd=ROOT, env={**os.environ, "AOS_GRPC_CA_FILE": str(tmp_path / "ca.crt")},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(cli.communicate(), timeout=30)
        assert cli.returncode == 0, err.decode()
        assert json.loads(out)["agent_id"] == "a-7"
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), timeout=10)


async def test_half_a_public_tls_setting_is_a_clear_error(backends, tmp_path: Path):
    process = await start_gateway(backends.env(AOS_HTTP_PORT=str(free_port()), AOS_GRPC_PORT=str(free_port()),
                                               AOS_PUBLIC_TLS_CERT_FILE=str(tmp_path / "gateway.crt")))
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=15)
    assert process.returncode != 0
    assert "public TLS needs both AOS_PUBLIC_TLS_CERT_FILE and AOS_PUBLIC_TLS_KEY_FILE" in stderr.decode()
    assert "Traceback" not in stderr.decode()


async def test_taken_port_is_a_clear_error(backends):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await start_gateway(backends.env(AOS_HTTP_PORT=str(port), AOS_GRPC_PORT=str(free_port())))
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=15)
    assert process.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in stderr.decode()
    assert "Traceback" not in stderr.decode()


async def test_missing_setting_is_a_clear_error():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AOS_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=15)
    assert process.returncode != 0
    assert "AOS_KERNEL_ADDRESS must be set" in stderr.decode()
