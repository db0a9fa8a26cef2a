"""The whole runtime as real processes, for integration and end-to-end tests.

`stack` (module scope) runs `python -m aosiq up` — the same launcher users run —
on a fresh migrated database, with anchors going to moto's S3 server over HTTP
(object lock on) and the scripted LLM standing in for every provider. A test
module may define `STACK_ENV = {...}` to override settings.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import grpc
import httpx
import pytest

from aos_common import tls
from aosiq.launcher import free_port
from tests.conftest import TestDatabase

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class AnchorStore:
    """A real S3-compatible server (moto, HTTP) with an object-locked bucket."""

    endpoint: str
    bucket: str
    access_key_id: str
    secret_access_key: str
    server: Any = None

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name="us-east-1",
        )

    def env(self) -> dict[str, str]:
        return {
            "AOS_ANCHOR_ENDPOINT": self.endpoint,
            "AOS_ANCHOR_BUCKET": self.bucket,
            "AOS_ANCHOR_ACCESS_KEY_ID": self.access_key_id,
            "AOS_ANCHOR_SECRET_ACCESS_KEY": self.secret_access_key,
            "AOS_ANCHOR_REGION": "us-east-1",
        }

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@contextmanager
def moto_anchor_store(port: int | None = None) -> Iterator[AnchorStore]:
    from moto.server import ThreadedMotoServer

    port = port or free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    store = AnchorStore(
        endpoint=f"http://127.0.0.1:{port}",
        bucket="aosiq-anchors",
        access_key_id="audit-anchor-writer",
        secret_access_key=secrets.token_urlsafe(24),
        server=server,
    )
    store.client().create_bucket(Bucket=store.bucket, ObjectLockEnabledForBucket=True)
    try:
        yield store
    finally:
        store.stop()


@dataclass
class RunningStack:
    home: Path
    db: TestDatabase
    process: subprocess.Popen[bytes]
    anchors: AnchorStore | None
    env: dict[str, str] = field(default_factory=dict)

    def runtime(self) -> dict[str, Any]:
        return json.loads((self.home / "runtime.json").read_text())

    @property
    def http_url(self) -> str:
        return str(self.runtime()["http_url"])

    @property
    def grpc_address(self) -> str:
        return str(self.runtime()["grpc_address"])

    @property
    def kernel_address(self) -> str:
        return str(self.runtime()["kernel_address"])

    @property
    def policy_address(self) -> str:
        return str(self.runtime()["policy_address"])

    @property
    def audit_address(self) -> str:
        return str(self.runtime()["audit_address"])

    def identity(self, service: str) -> tls.ServiceTls:
        """A certificate the stack's internal CA issued (`aosiq up` makes one per service)."""
        return tls.load(Path(self.runtime()["internal_tls_dir"]), service)

    def internal_channel(self, address: str, service: str) -> grpc.aio.Channel:
        """A channel to an internal port, over mutual TLS as `service`."""
        return grpc.aio.secure_channel(address, self.identity(service).channel_credentials())

    @property
    def fake_llm_url(self) -> str:
        return str(self.runtime()["fake_llm_url"])

    @property
    def workspace(self) -> Path:
        return Path(self.runtime()["workspace"])

    @property
    def admin_token(self) -> str:
        return (self.home / "admin.token").read_text().strip()

    def pid(self, name: str) -> int:
        return int(self.runtime()["pids"][name])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        pid = self.pid(name)
        os.kill(pid, sig)
        return pid

    def service_env(self, name: str) -> dict[str, str]:
        """The exact environment the launcher gave `name` (to start more workers)."""
        lines = (self.home / "secrets" / f"{name}.env").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.admin_token}"}
        return httpx.Client(base_url=self.http_url, headers=headers, timeout=30.0)

    def wait_healthy(self, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                reply = httpx.get(self.http_url + "/api/v1/health", timeout=2.0)
                last = reply.json()
                if reply.status_code == 200 and last.get("status") == "ok":
                    return last
            except (httpx.HTTPError, ValueError, FileNotFoundError, KeyError):
                pass
            time.sleep(0.3)
        raise AssertionError(f"stack not healthy within {timeout}s: {last}")


def start_stack(home: Path, db: TestDatabase, anchors: AnchorStore | None,
                overrides: dict[str, str] | None = None) -> RunningStack:
    """Start `aosiq up`. Ports are picked free but released before the services bind
    them, so another process may take one in between: that one failure (and only
    that one) is retried with fresh ports."""
    for _ in range(PORT_RACE_ATTEMPTS - 1):
        with suppress(PortTaken):
            return _start_stack_once(home, db, anchors, overrides)
    return _start_stack_once(home, db, anchors, overrides)


PORT_RACE_ATTEMPTS = 3
PORT_TAKEN_MARKERS = ("address already in use", "[errno 98]", "is taken (", "failed to bind")


class PortTaken(AssertionError):
    """aosiq up died because a port picked for it was taken before it could bind it."""


def _start_stack_once(home: Path, db: TestDatabase, anchors: AnchorStore | None,
                      overrides: dict[str, str] | None) -> RunningStack:
    env = {
        **os.environ,
        "AOS_HOME": str(home),
        "AOS_HTTP_PORT": str(free_port()),
        "AOS_GRPC_PORT": str(free_port()),
        "AOS_DATABASE_URL": db.admin_dsn,
        "AOS_WORKERS": "2",
        "AOS_HEARTBEAT_SECONDS": "1",
        "AOS_ORPHAN_AFTER_SECONDS": "4",
        "AOS_ANCHOR_EVERY_EVENTS": "5",
        "AOS_ANCHOR_EVERY_SECONDS": "2",
        "AOS_LOG_LEVEL": "INFO",
    }
    for key in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "AOS_OLLAMA_BASE_URL"):
        env.pop(key, None)
    if anchors is not None:
        env.update(anchors.env())
    env.update(overrides or {})
    log_path = home / "up.log"
    home.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "aosiq", "up"], env=env, cwd=ROOT,
                                   stdout=out, stderr=subprocess.STDOUT)
    stack = RunningStack(home=home, db=db, process=process, anchors=anchors, env=env)
    deadline = time.monotonic() + 120
    while not (home / "runtime.json").exists():
        if process.poll() is not None:
            log = log_path.read_text()[-4000:]
            failure = PortTaken if any(m in log.lower() for m in PORT_TAKEN_MARKERS) else AssertionError
            log_path.rename(log_path.with_suffix(f".failed-{time.time_ns()}.log"))
            raise failure(f"aosiq up exited with {process.returncode}:\n{log}")
        if time.monotonic() > deadline:
            stop_stack(stack)
            raise AssertionError(f"aosiq up did not start:\n{log_path.read_text()[-4000:]}")
        time.sleep(0.2)
    return stack


def stop_stack(stack: RunningStack) -> None:
    if stack.process.poll() is None:
        stack.process.send_signal(signal.SIGTERM)
        try:
            stack.process.wait(30)
        except subprocess.TimeoutExpired:
            stack.process.kill()
            stack.process.wait(5)


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest, db: TestDatabase, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[RunningStack]:
    overrides = getattr(request.module, "STACK_ENV", {})
    with moto_anchor_store() as anchors:
        running = start_stack(tmp_path_factory.mktemp("aos_home"), db, anchors, overrides)
        try:
            yield running
        finally:
            stop_stack(running)
