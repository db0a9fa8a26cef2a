"""`python -m policy_svc` runs as its own process: bootstrap token, rotate-key, clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from asyncio.subprocess import PIPE
from pathlib import Path
from typing import TYPE_CHECKING

import grpc

from aos.v1 import audit_internal_pb2 as audit_pb
from aos.v1 import audit_internal_pb2_grpc as audit_grpc
from aos.v1 import policy_internal_pb2 as pb
from aos.v1 import policy_internal_pb2_grpc as policy_grpc
from aos.v1 import status_pb2, status_pb2_grpc

if TYPE_CHECKING:
    from tests.conftest import TestDatabase

ROOT = Path(__file__).resolve().parents[2]


class Recorder(audit_grpc.AuditWriterServiceServicer):
    def __init__(self) -> None:
        self.types: list[str] = []

    async def AppendEvent(self, request, context):
        self.types.append(request.event_type)
        return audit_pb.AppendEventResponse(chain_seq=len(self.types))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_policy_process_serves_and_stops_cleanly(db: TestDatabase, tmp_path: Path) -> None:
    recorder = Recorder()
    audit = grpc.aio.server()
    audit_grpc.add_AuditWriterServiceServicer_to_server(recorder, audit)
    audit_port = audit.add_insecure_port("127.0.0.1:0")
    await audit.start()
    port = free_port()
    token_file = tmp_path / "home" / "admin.token"
    env = {
        **os.environ,
        "AOS_POLICY_LISTEN": f"127.0.0.1:{port}",
        "AOS_POLICY_DATABASE_URL": db.dsn("policy"),
        "AOS_AUDIT_ADDRESS": f"127.0.0.1:{audit_port}",
        "AOS_POLICY_KEY_DIR": str(tmp_path / "keys"),
        "AOS_BOOTSTRAP_TOKEN_FILE": str(token_file),
    }
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "policy_svc", cwd=ROOT, env=env,
                                                   stdout=PIPE, stderr=PIPE)
    try:
        for _ in range(200):
            if token_file.exists() or process.returncode is not None:
                break
            await asyncio.sleep(0.05)
        assert token_file.stat().st_mode & 0o777 == 0o600
        assert "TOKEN_MINTED" in recorder.types
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            status = await status_pb2_grpc.StatusServiceStub(channel).GetStatus(status_pb2.GetStatusRequest())
            assert status.service == "policy"
            rotate = await asyncio.create_subprocess_exec(sys.executable, "-m", "policy_svc", "rotate-key",
                                                          cwd=ROOT, env=env, stdout=PIPE)
            out, _ = await rotate.communicate()
            assert rotate.returncode == 0
            new_kid = out.decode().split()[3].rstrip(";")
            jwks = await policy_grpc.PolicyServiceStub(channel).GetJwks(pb.GetJwksRequest())
            assert new_kid in jwks.jwks_json
        process.send_signal(signal.SIGTERM)
        _, logs = await asyncio.wait_for(process.communicate(), timeout=15)
        assert process.returncode == 0
        assert token_file.read_text().strip() not in logs.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await audit.stop(None)
