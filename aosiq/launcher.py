"""`aosiq up`: the whole runtime on one machine, as separate supervised processes.

Order of start: database (embedded or `AOS_DATABASE_URL`) and migrations,
the scripted LLM when no provider key is set, then audit, policy, kernel and
gateway — each its own process with only its own settings and credentials
(the anchor-store keys reach the audit process alone, provider keys the
kernel alone, each service its own database role). A child that dies is
restarted with backoff, as an orchestrator would; SIGINT/SIGTERM stops every
child, newest first, then the embedded database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aos_common import tls
from aos_common.config import ConfigError, aos_home, auth_mode, env_int
from aos_common.logs import log_fields
from aosiq import database
from aosiq.migrate import migrate

if TYPE_CHECKING:
    from pgserver import PostgresServer

log = logging.getLogger("aosiq.up")

SERVICE_ORDER = ("audit", "policy", "kernel", "gateway")
PROVIDER_KEY_VARS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "AOS_OLLAMA_BASE_URL")
# Settings the operator may pass through to one service, and only to that one:
# the anchor-store credentials reach the audit process alone, provider keys the kernel alone.
SERVICE_SETTINGS: dict[str, tuple[str, ...]] = {
    "audit": (
        "AOS_ANCHOR_ENDPOINT", "AOS_ANCHOR_BUCKET", "AOS_ANCHOR_ACCESS_KEY_ID", "AOS_ANCHOR_SECRET_ACCESS_KEY",
        "AOS_ANCHOR_REGION", "AOS_ANCHOR_EVERY_EVENTS", "AOS_ANCHOR_EVERY_SECONDS", "AOS_ANCHOR_RETENTION_DAYS",
        "AOS_ANCHOR_RETENTION_MODE",
    ),
    "policy": (
        "AOS_TOKEN_TTL_SECONDS", "AOS_ADMIN_TOKEN_TTL_SECONDS", "AOS_APPROVAL_TTL_SECONDS", "AOS_PRICE_TABLE_FILE",
        "AOS_POLICY_KEY_ROTATION_SECONDS", "AOS_MAX_AGENTS_PER_SESSION", "AOS_MAX_SPAWN_DEPTH",
    ),
    "kernel": (
        "AOS_HEARTBEAT_SECONDS", "AOS_ORPHAN_AFTER_SECONDS", "AOS_APPROVAL_POLL_SECONDS", "AOS_MAX_STEPS",
        "AOS_MAX_OUTPUT_TOKENS", "AOS_PROVIDER_TIMEOUT_SECONDS", "ANTHROPIC_API_KEY", "OPENAI_API_KEY",
        "AOS_ANTHROPIC_BASE_URL", "AOS_OPENAI_BASE_URL", "AOS_OLLAMA_BASE_URL", "AOS_TOOL_TIMEOUT_SECONDS",
        "AOS_KERNEL_FAILPOINT", "AOS_MCP_CONNECT_TIMEOUT_SECONDS", "AOS_MCP_CALL_TIMEOUT_SECONDS",
        "AOS_MCP_MAX_BACKOFF_SECONDS", "AOS_SANDBOX", "AOS_SANDBOX_BWRAP", "AOS_SANDBOX_CPU_SECONDS",
        "AOS_SANDBOX_MEMORY_MB", "AOS_SANDBOX_PROCESSES", "AOS_SANDBOX_FILE_SIZE_MB", "AOS_SANDBOX_OPEN_FILES",
        "AOS_SANDBOX_WALL_SECONDS", "AOS_SANDBOX_OUTPUT_BYTES", "AOS_SANDBOX_CONCURRENCY", "AOS_SANDBOX_QUEUE_SECONDS",
    ),
    "gateway": (
        "AOS_BACKEND_TIMEOUT_SECONDS", "AOS_HEALTH_TIMEOUT_SECONDS",
        "AOS_HTTP_BODY_TIMEOUT_SECONDS", "AOS_HTTP_BODY_IDLE_SECONDS", "AOS_HTTP_HEADER_TIMEOUT_SECONDS",
    ),
}
# Settings every service may see: none of them is a secret.
SHARED_VARS = ("AOS_AUTH_MODE", "AOS_LOG_LEVEL", "AOS_LOOP_STALL_SECONDS", "PATH", "HOME", "LANG", "TZ", "PYTHONPATH")
START_TIMEOUT_SECONDS = 60.0
START_FAILURE_LINES = 8


class LaunchError(RuntimeError):
    """`aosiq up` cannot start; the message says what to fix."""


@dataclass(frozen=True)
class UpSettings:
    home: Path
    http_host: str
    http_port: int
    grpc_port: int
    database_url: str | None = field(repr=False)
    workers: int
    auth_mode: str
    internal_listen: Mapping[str, str]

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None) -> UpSettings:
        source = os.environ if env is None else env
        home = aos_home(source).resolve()
        return cls(
            home=home,
            http_host=source.get("AOS_HTTP_HOST", "127.0.0.1"),
            http_port=env_int("AOS_HTTP_PORT", 8080, source, minimum=0),
            grpc_port=env_int("AOS_GRPC_PORT", 50051, source, minimum=0),
            database_url=source.get("AOS_DATABASE_URL") or None,
            workers=env_int("AOS_WORKERS", 2, source, minimum=0),
            auth_mode=auth_mode(source),
            internal_listen={
                svc: source[f"AOS_{svc.upper()}_LISTEN"]
                for svc in ("kernel", "policy", "audit")
                if source.get(f"AOS_{svc.upper()}_LISTEN")
            },
        )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ensure_port_free(host: str, port: int, what: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise LaunchError(
                f"{what} port {port} on {host} is taken ({exc.strerror}); "
                f"stop whatever uses it or choose another port"
            ) from exc


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = 0.0

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def start_failure(self, code: int) -> str:
        """Why the child died while starting: its exit code and the last lines of its log
        (services log settings by name, never secret values)."""
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-START_FAILURE_LINES:]
        except OSError:
            tail = []
        last = "".join(f"\n  | {line[:500]}" for line in tail)
        return f"{self.name} exited with code {code} while starting; see {self.log_path}{last}"

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


@dataclass
class Stack:
    """What `aosiq up` started; written to `$AOS_HOME/runtime.json`."""

    settings: UpSettings
    admin_dsn: str = field(repr=False)
    addresses: dict[str, str] = field(default_factory=dict)
    children: dict[str, Child] = field(default_factory=dict)
    fake_llm_url: str | None = None
    embedded: PostgresServer | None = None

    @property
    def workspace(self) -> Path:
        return self.settings.home / "workspace"

    @property
    def tls_dir(self) -> Path:
        """The internal CA's certificate and one certificate and key per service (aos_common/tls.py)."""
        return self.settings.home / "secrets" / "tls"

    @property
    def http_url(self) -> str:
        return f"http://{self.settings.http_host}:{self.settings.http_port}"

    def runtime_info(self) -> dict[str, object]:
        operator_dsn = self.admin_dsn if self.embedded is not None else "(AOS_DATABASE_URL)"
        return {
            "http_url": self.http_url,
            "grpc_address": f"{self.settings.http_host}:{self.settings.grpc_port}",
            "database_url": operator_dsn,
            "fake_llm_url": self.fake_llm_url,
            "workspace": str(self.workspace),
            "kernel_address": self.addresses.get("kernel"),
            "policy_address": self.addresses.get("policy"),
            "audit_address": self.addresses.get("audit"),
            "internal_tls_dir": str(self.tls_dir),
            "auth_mode": self.settings.auth_mode,
            "admin_token_file": str(self.settings.home / "admin.token"),
            "logs": str(self.settings.home / "logs"),
            "pids": {name: child.pid for name, child in self.children.items()},
            "launcher_pid": os.getpid(),
        }


def _base_env(source: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in source.items() if k in SHARED_VARS or k.startswith("OTEL_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def service_env(stack: Stack, service: str, source: Mapping[str, str], dsns: Mapping[str, str]) -> dict[str, str]:
    """Only what `service` needs: its own credentials, nobody else's."""
    home = stack.settings.home
    env = _base_env(source)
    env["AOS_AUTH_MODE"] = stack.settings.auth_mode
    env["OTEL_SERVICE_NAME"] = f"aosiq-{service}"
    if service != "gateway":
        env[f"AOS_{service.upper()}_LISTEN"] = stack.addresses[service]
        env[f"AOS_{service.upper()}_DATABASE_URL"] = dsns[service]
    env["AOS_POLICY_ADDRESS"] = stack.addresses["policy"]
    env.update(tls.env_for(stack.tls_dir, service))
    env.update({k: source[k] for k in SERVICE_SETTINGS[service] if source.get(k)})
    if service == "audit":
        if not source.get("AOS_ANCHOR_ENDPOINT"):
            env["AOS_ANCHOR_DIR"] = str(home / "anchors")
        env["AOS_AUDIT_KEY_FILE"] = str(home / "secrets" / "audit-anchor-signing.key")
    if service in ("policy", "kernel"):
        env["AOS_AUDIT_ADDRESS"] = stack.addresses["audit"]
    if service == "policy":
        env["AOS_POLICY_KEY_DIR"] = str(home / "secrets" / "policy-keys")
        env["AOS_BOOTSTRAP_TOKEN_FILE"] = str(home / "admin.token")
    if service == "kernel":
        env["AOS_WORKSPACE"] = str(stack.workspace)
        env["AOS_WORKERS"] = str(stack.settings.workers)
        if stack.fake_llm_url:
            env["AOS_ANTHROPIC_BASE_URL"] = stack.fake_llm_url
            env["AOS_OPENAI_BASE_URL"] = stack.fake_llm_url + "/v1"
            env["AOS_OLLAMA_BASE_URL"] = stack.fake_llm_url
            env["ANTHROPIC_API_KEY"] = "scripted-llm-no-key"
            env["OPENAI_API_KEY"] = "scripted-llm-no-key"
    if service == "gateway":
        env["AOS_HTTP_HOST"] = stack.settings.http_host
        env["AOS_HTTP_PORT"] = str(stack.settings.http_port)
        env["AOS_GRPC_PORT"] = str(stack.settings.grpc_port)
        env["AOS_KERNEL_ADDRESS"] = stack.addresses["kernel"]
        env["AOS_AUDIT_ADDRESS"] = stack.addresses["audit"]
    return env


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


async def _grpc_ready(address: str, identity: tls.ServiceTls, deadline: float) -> bool:
    async with grpc.aio.secure_channel(address, identity.channel_credentials()) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                # The stub omits the methods HealthStub's __init__ sets.
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)  # type: ignore[attr-defined]
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return True
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.2)
    return False


def wait_ready(child: Child, address: str, identity: tls.ServiceTls, timeout: float = START_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = child.exited()
        if code is not None:
            raise LaunchError(child.start_failure(code))
        if asyncio.run(_grpc_ready(address, identity, min(deadline, time.monotonic() + 2.0))):
            return
    raise LaunchError(f"{child.name} did not become ready within {timeout:.0f}s; see {child.log_path}")


def wait_http_ready(child: Child, url: str, timeout: float = START_TIMEOUT_SECONDS) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = child.exited()
        if code is not None:
            raise LaunchError(child.start_failure(code))
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        time.sleep(0.2)
    raise LaunchError(f"{child.name} did not answer {url} within {timeout:.0f}s; see {child.log_path}")


class Launcher:
    def __init__(self, settings: UpSettings, source: Mapping[str, str] | None = None):
        self.settings = settings
        self.source = dict(os.environ if source is None else source)
        self.stack: Stack | None = None
        self._stopping = False

    def _prepare_database(self) -> tuple[str, PostgresServer | None]:
        if self.settings.database_url:
            return self.settings.database_url, None
        log.info("starting embedded PostgreSQL", extra=log_fields(pgdata=str(self.settings.home / "pgdata")))
        server, dsn = database.start_embedded(self.settings.home / "pgdata")
        return dsn, server

    def start(self) -> Stack:
        home = self.settings.home
        for sub in ("logs", "workspace", "anchors", "secrets"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        (home / "secrets").chmod(0o700)
        ensure_port_free(self.settings.http_host, self.settings.http_port, "HTTP (AOS_HTTP_PORT)")
        ensure_port_free(self.settings.http_host, self.settings.grpc_port, "gRPC (AOS_GRPC_PORT)")

        admin_dsn, embedded = self._prepare_database()
        stack = Stack(settings=self.settings, admin_dsn=admin_dsn, embedded=embedded)
        self.stack = stack
        applied = asyncio.run(migrate(admin_dsn))
        log.info("database migrated", extra=log_fields(applied=[f"{m.version:04d}_{m.name}" for m in applied]))
        passwords = {role: database.role_password(home / "secrets", role) for role in database.SERVICE_ROLES.values()}
        asyncio.run(database.set_role_passwords(admin_dsn, passwords))
        dsns = database.service_dsns(admin_dsn, passwords)

        for svc in ("audit", "policy", "kernel"):
            stack.addresses[svc] = self.settings.internal_listen.get(svc) or f"127.0.0.1:{free_port()}"
        # Internal calls run over mutual TLS; the launcher has a certificate of its own to ask for health.
        tls.issue_local(stack.tls_dir, [*SERVICE_ORDER, tls.LAUNCHER])
        launcher_identity = tls.load(stack.tls_dir, tls.LAUNCHER)

        if not any(self.source.get(k) for k in PROVIDER_KEY_VARS):
            self._start_fake_llm(stack)

        for svc in SERVICE_ORDER:
            env = service_env(stack, svc, self.source, dsns)
            write_private(home / "secrets" / f"{svc}.env", "".join(f"{k}={v}\n" for k, v in sorted(env.items())))
            child = Child(svc, [sys.executable, "-m", f"{svc}_svc" if svc != "gateway" else "gateway"], env,
                          home / "logs" / f"{svc}.log")
            stack.children[svc] = child
            child.start()
            log.info("started service", extra=log_fields(service=svc, pid=child.pid, log=str(child.log_path)))
            if svc == "gateway":
                wait_http_ready(child, stack.http_url + "/api/v1/health")
            else:
                wait_ready(child, stack.addresses[svc], launcher_identity)
        write_private(home / "runtime.json", json.dumps(stack.runtime_info(), indent=2) + "\n")
        return stack

    def _start_fake_llm(self, stack: Stack) -> None:
        port = free_port()
        child = Child(
            "fake-llm",
            [sys.executable, "-m", "aosiq", "fake-llm", "--host", "127.0.0.1", "--port", str(port)],
            _base_env(self.source),
            self.settings.home / "logs" / "fake-llm.log",
        )
        stack.children["fake-llm"] = child
        stack.fake_llm_url = f"http://127.0.0.1:{port}"
        child.start()
        wait_http_ready(child, stack.fake_llm_url + "/healthz")
        log.info("no provider key set: scripted LLM serving all providers", extra=log_fields(url=stack.fake_llm_url))

    def supervise(self) -> None:
        """Restart children that die, until asked to stop."""
        assert self.stack is not None
        stop_requested: list[int] = []

        def request_stop(signum: int, _frame: object) -> None:
            stop_requested.append(signum)

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        while not stop_requested:
            now = time.monotonic()
            for child in self.stack.children.values():
                code = child.exited()
                if code is None:
                    if child.restarts and now - child.started_at > 30:
                        child.restarts = 0
                    continue
                if child.next_start == 0.0:
                    delay = min(0.5 * 2**child.restarts, 10.0)
                    child.next_start = now + delay
                    log.warning("service exited; restarting",
                                extra=log_fields(service=child.name, code=code, in_seconds=delay))
                elif now >= child.next_start:
                    child.restarts += 1
                    child.next_start = 0.0
                    child.start()
                    log.info("restarted service", extra=log_fields(service=child.name, pid=child.pid))
                    write_private(self.settings.home / "runtime.json",
                                  json.dumps(self.stack.runtime_info(), indent=2) + "\n")
            time.sleep(0.2)
        self.stop()

    def stop(self) -> None:
        if self._stopping or self.stack is None:
            return
        self._stopping = True
        log.info("stopping every service")
        for child in reversed(list(self.stack.children.values())):
            child.stop()
        if self.stack.embedded is not None:
            with contextlib.suppress(Exception):
                self.stack.embedded.cleanup()
        with contextlib.suppress(FileNotFoundError):
            (self.settings.home / "runtime.json").unlink()
        log.info("stopped")


def run_up() -> int:
    try:
        settings = UpSettings.load()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    launcher = Launcher(settings)
    try:
        stack = launcher.start()
    except (LaunchError, SystemExit, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        launcher.stop()
        return 1
    except BaseException:
        launcher.stop()
        raise
    info = stack.runtime_info()
    print(f"AOSIQ is up. REST {info['http_url']}  gRPC {info['grpc_address']}", flush=True)
    print(f"  operator token: {info['admin_token_file']}   runtime: {settings.home / 'runtime.json'}", flush=True)
    print(f"  health: curl {info['http_url']}/api/v1/health   logs: {info['logs']}   Ctrl-C stops", flush=True)
    launcher.supervise()
    return 0
