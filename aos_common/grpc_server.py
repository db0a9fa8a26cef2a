"""Bootstrap for every service's gRPC server.

One place adds what every service needs: the error interceptor (domain errors
to status + ErrorInfo, unexpected errors to a bare INTERNAL with no stack trace
for the caller), tracing, `grpc.health.v1`, server reflection, a graceful
stop on SIGTERM/SIGINT, and the event-loop stall watchdog (aos_common/watchdog.py).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.instrumentation.grpc import aio_server_interceptor

from aos_common import tls
from aos_common.errors import DOMAIN, AosError, InsufficientAuthority
from aos_common.logs import log_fields
from aos_common.watchdog import start_watchdog

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")


def status_for(error: AosError) -> status_pb2.Status:
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN, metadata=error.metadata)
    detail = any_pb2.Any()
    detail.Pack(info)
    return status_pb2.Status(code=error.code.value[0], message=error.message, details=[detail])


async def abort_with(context: grpc.aio.ServicerContext, error: AosError) -> None:
    status = status_for(error)
    await context.abort(
        error.code,
        error.message,
        trailing_metadata=(("grpc-status-details-bin", status.SerializeToString()),),
    )


async def _refuse(context: grpc.aio.ServicerContext, method: str, exc: Exception) -> None:
    """Answer a failed call: a domain error as itself, anything else as a bare
    INTERNAL with a reference into the service log (never a stack trace)."""
    if isinstance(exc, AosError):
        await abort_with(context, exc)
        return
    ref = uuid.uuid4().hex[:12]
    log.error("unhandled error", exc_info=exc, extra=log_fields(method=method, ref=ref))
    await abort_with(context, AosError(f"internal error (reference {ref})"))


def _check_caller(context: grpc.aio.ServicerContext, method: str) -> None:
    """Over TLS, refuse a peer whose service may not call `method` (aos_common/tls.py)."""
    allowed = tls.allowed_callers(method)
    if allowed is None:
        return
    caller = tls.peer_service(context)
    if caller not in allowed:
        raise InsufficientAuthority(f"{method} may be called by {', '.join(sorted(allowed))}, not by {caller!r}")


def _wrap_unary(behavior: Callable[..., Any], method: str, check_caller: bool) -> Callable[..., Awaitable[Any]]:
    # `behavior` is an aio handler (a coroutine function), though grpc's RpcMethodHandler declares it plain.
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            if check_caller:
                _check_caller(context, method)
            return await behavior(request, context)
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as exc:
            await _refuse(context, method, exc)

    return wrapped


def _wrap_stream(behavior: Callable[..., Any], method: str, check_caller: bool) -> Callable[..., Any]:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            if check_caller:
                _check_caller(context, method)
            async for item in behavior(request, context):
                yield item
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as exc:
            await _refuse(context, method, exc)

    return wrapped


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Applies the one error table to every RPC of the server, and, on a server
    behind mutual TLS, the table of who may call what."""

    def __init__(self, check_callers: bool = False):
        self._check_callers = check_callers

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[_Request, _Response] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Request, _Response] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary, method, self._check_callers),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(handler.unary_stream, method, self._check_callers),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


Registrar = Callable[[grpc.aio.Server], Iterable[str]]


def build_server(
    registrars: Iterable[Registrar], extra_interceptors: Iterable[Any] = (), identity: tls.ServiceTls | None = None
) -> tuple[grpc.aio.Server, health.aio.HealthServicer, list[str]]:
    """A server with the shared interceptors; each registrar adds servicers and
    returns the full names of the services it added. A server with an internal
    `identity` (bound with `tls.server_credentials(identity)`) checks each RPC's
    caller against `tls.CALLERS`."""
    server = grpc.aio.server(
        interceptors=[aio_server_interceptor(), *extra_interceptors, ErrorInterceptor(identity is not None)],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    names: list[str] = []
    for register in registrars:
        names.extend(register(server))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server
    )
    return server, health_servicer, names


def bind(server: grpc.aio.Server, address: str, credentials: grpc.ServerCredentials | None = None) -> int:
    """Bind (over TLS when given credentials), with a clear error when the port is taken."""
    try:
        if credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError as exc:
        raise SystemExit(f"cannot listen on {address}: {exc} (is the port taken?)") from exc
    if port == 0:
        raise SystemExit(f"cannot listen on {address}: the port is taken or the address is invalid")
    return port


async def run_until_stopped(
    server: grpc.aio.Server,
    health_servicer: health.aio.HealthServicer,
    names: Iterable[str],
    on_stop: Callable[[], Awaitable[None]] | None = None,
    grace_seconds: float = 5.0,
    *,
    service: str,
    stall_seconds: float,
) -> None:
    """Serve until SIGTERM/SIGINT, then drain in-flight RPCs and stop. While
    serving, a loop stalled for `stall_seconds` ends the process (0: never)."""
    await server.start()
    watchdog = start_watchdog(service, stall_seconds)
    for name in ("", *names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: draining in-flight calls")
    await health_servicer.enter_graceful_shutdown()
    await server.stop(grace_seconds)
    if on_stop is not None:
        await on_stop()
    if watchdog is not None:
        watchdog.stop()
    log.info("stopped")
