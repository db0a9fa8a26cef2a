"""Assembling the gateway and running both edges (HTTP via uvicorn, gRPC via grpc.aio) in one loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator, Sequence

import grpc
import uvicorn
from grpc_health.v1 import health_pb2
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Mount, Route

from aos.v1 import policy_internal_pb2_grpc
from aos_common.entry import Service
from aos_common.grpc_server import bind
from aos_common.logs import log_fields
from aos_common.verifier import TokenVerifier
from aos_common.watchdog import start_watchdog
from gateway.auth import Authenticator
from gateway.body_limit import BodyTimeouts
from gateway.config import GatewayConfig, load
from gateway.dashboard import create_dashboard
from gateway.grpc_proxy import build_grpc_server
from gateway.header_deadline import with_header_timeout
from gateway.health import GET_HEALTH_PATH, HealthReporter
from gateway.http_rules import RouteTable, public_services
from gateway.openapi import build_openapi
from gateway.rest import build_app
from gateway.upstream import BackendAddresses, Upstream, check_owners

log = logging.getLogger(__name__)


class Gateway:
    """Every part of the gateway, wired once; both edges share routes, auth and upstream."""

    def __init__(self, config: GatewayConfig, extra_routes: Sequence[BaseRoute] = (),
                 on_stop: Sequence[Callable[[], Awaitable[None]]] = ()):
        """`extra_routes` (the dashboard under /ui/) are served before the API routes;
        `on_stop` runs after both edges have stopped (the dashboard's channels)."""
        self.config = config
        self._on_stop = tuple(on_stop)
        services = public_services()
        self.upstream = Upstream(
            BackendAddresses(config.kernel_address, config.policy_address, config.audit_address),
            config.backend_timeout_seconds,
            config.tls,
        )
        verifier = TokenVerifier(policy_internal_pb2_grpc.PolicyServiceStub(self.upstream.channel_of("policy")))
        self.authenticator = Authenticator(config.auth_mode, verifier)
        self.health = HealthReporter(self.upstream, config.auth_mode, config.health_timeout_seconds)
        self.upstream.serve_locally(GET_HEALTH_PATH, self.health.get_health)
        check_owners(services, self.upstream.local_services)
        self.routes = RouteTable.from_services(services)
        self.openapi = build_openapi(services)
        self.app = build_app(
            self.routes, self.upstream, self.authenticator, self.openapi, extra_routes,
            BodyTimeouts(config.body_total_seconds, config.body_idle_seconds),
        )
        self.grpc_server, self._grpc_health, self._grpc_names = build_grpc_server(
            services, self.upstream, self.authenticator
        )

    def bind_grpc(self, host: str, port: int) -> int:
        address = f"{_host_for_address(host)}:{port}"
        public_tls = self.config.public_tls
        if public_tls is None:
            return bind(self.grpc_server, address)
        # Server-side TLS only: callers authenticate with their bearer token, as over plaintext.
        credentials = grpc.ssl_server_credentials([(public_tls.key(), public_tls.cert())])
        return bind(self.grpc_server, address, credentials)

    async def start_grpc(self) -> None:
        await self.grpc_server.start()
        for name in ("", *self._grpc_names):
            await self._grpc_health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace_seconds: float = 5.0) -> None:
        await self._grpc_health.enter_graceful_shutdown()
        await self.grpc_server.stop(grace_seconds)
        await self.upstream.close()
        for close in self._on_stop:
            await close()


def _host_for_address(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def listen_socket(host: str, port: int) -> socket.socket:
    """Bind the HTTP port ourselves, so a taken port is one clear line, not a uvicorn traceback."""
    try:
        bound = socket.create_server((host.strip("[]"), port), family=_family(host), backlog=2048)
    except OSError as exc:
        raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror or exc} (is the port taken?)") from None
    # create_server leaves `proto` 0, and asyncio sets TCP_NODELAY only on accepted
    # sockets whose proto says TCP: without it, every keep-alive response waited
    # ~40 ms for the client's delayed ACK (bench/governed_call.py, REST).
    return socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, fileno=bound.detach())


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the gateway stops both edges together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _to_dashboard(_request: object) -> RedirectResponse:
    return RedirectResponse("/ui/")


def build(config: GatewayConfig) -> Gateway:
    """The gateway with the operator dashboard under /ui/; binds nothing."""
    dashboard = create_dashboard(
        kernel_address=config.kernel_address,
        policy_address=config.policy_address,
        audit_address=config.audit_address,
        identity=config.tls,
    )
    return Gateway(config, extra_routes=[Route("/ui", _to_dashboard), Mount("/ui", app=dashboard)],
                   on_stop=[dashboard.state.backends.close])


async def serve(config: GatewayConfig) -> None:
    gateway = build(config)
    http_socket = listen_socket(config.http_host, config.http_port)
    try:
        grpc_port = gateway.bind_grpc(config.http_host, config.grpc_port)
    except SystemExit:
        http_socket.close()
        raise
    http = _EmbeddedUvicorn(
        uvicorn.Config(
            gateway.app, log_config=None, access_log=False, lifespan="off", server_header=False,
            http=with_header_timeout(config.header_timeout_seconds),
            ssl_certfile=str(config.public_tls.cert_file) if config.public_tls else None,
            ssl_keyfile=str(config.public_tls.key_file) if config.public_tls else None,
        )
    )
    await gateway.start_grpc()
    watchdog = start_watchdog("gateway", config.loop_stall_seconds)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    http_task = asyncio.create_task(http.serve(sockets=[http_socket]))
    log.info(
        "gateway listening",
        extra=log_fields(
            http=f"{config.http_host}:{http_socket.getsockname()[1]}",
            public_tls=config.public_tls is not None,
            grpc_port=grpc_port,
            auth_mode=config.auth_mode,
            internal_tls=config.tls is not None,
        ),
    )
    stop_task = asyncio.create_task(stop.wait())
    await asyncio.wait({http_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    log.info("stopping: draining in-flight requests")
    http.should_exit = True
    await http_task
    stop_task.cancel()
    await gateway.stop()
    if watchdog is not None:
        watchdog.stop()
    log.info("stopped")


SERVICE = Service("gateway", load, serve)
