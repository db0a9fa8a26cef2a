"""The public services over gRPC on the gateway's own port.

A generic handler forwards raw request and response bytes to the owning
backend, so the proxy needs no code per RPC. Only methods of the public
(annotated) services resolve; a call to an internal service gets
UNIMPLEMENTED as if it did not exist. Reflection is served from a descriptor
pool that holds only the public files, so it cannot describe internal ones.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import FileDescriptor, ServiceDescriptor
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2
from opentelemetry.instrumentation.grpc import aio_server_interceptor

from aos_common.errors import InvalidArgument
from aos_common.grpc_server import MAX_MESSAGE_BYTES, ErrorInterceptor
from aos_common.tokens import Claims
from gateway.auth import OPEN_METHODS, Authenticator
from gateway.errors import BackendError
from gateway.grants import GRANT_FIELDS, clamp
from gateway.transcoding import message_class
from gateway.upstream import Upstream

# Metadata the proxy does not pass on: transport-level keys grpc sets itself,
# trace context (the client interceptor injects the current span's) and
# authorization (forwarded only as the auth outcome allows).
_DROPPED_METADATA = frozenset({
    "authorization", "user-agent", "te", "content-type", "traceparent", "tracestate", "baggage",
})


def _forwarded_metadata(
    incoming: tuple[tuple[str, str | bytes], ...], authorization: str | None
) -> list[tuple[str, str | bytes]]:
    kept = [(k, v) for k, v in incoming if k not in _DROPPED_METADATA and not k.startswith((":", "grpc-"))]
    if authorization is not None:
        kept.append(("authorization", authorization))
    return kept


def _authorization_of(incoming: tuple[tuple[str, str | bytes], ...]) -> str | None:
    for key, value in incoming:
        if key == "authorization":
            return value.decode() if isinstance(value, bytes) else value
    return None


class PublicServiceProxy(grpc.GenericRpcHandler):
    def __init__(self, services: list[ServiceDescriptor], upstream: Upstream, authenticator: Authenticator):
        self._methods = {f"/{s.full_name}/{m.name}": m for s in services for m in s.methods}
        self._upstream = upstream
        self._auth = authenticator

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        if handler_call_details.method not in self._methods:
            return None
        return grpc.unary_unary_rpc_method_handler(self._forwarder(handler_call_details.method))

    def _forwarder(self, grpc_path: str) -> Callable[[bytes, grpc.aio.ServicerContext], Awaitable[bytes]]:
        async def forward(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            incoming = tuple(context.invocation_metadata() or ())
            authorization = _authorization_of(incoming)
            if grpc_path not in OPEN_METHODS:
                outcome = await self._auth.authenticate(authorization, grpc_path)
                authorization = outcome.forward
                if outcome.warning:
                    context.set_trailing_metadata((("x-aos-auth-warning", outcome.warning),))
                if grpc_path in GRANT_FIELDS:
                    request = self._clamped(grpc_path, request, outcome.claims)
            try:
                return await self._upstream.call(
                    grpc_path, request, _forwarded_metadata(incoming, authorization), context.time_remaining()
                )
            except BackendError as error:
                await context.abort(error.code, error.message, trailing_metadata=error.trailing_metadata)

        return forward

    def _clamped(self, grpc_path: str, request: bytes, claims: Claims) -> bytes:
        method = self._methods[grpc_path]
        try:
            message = message_class(method.input_type).FromString(request)
        except DecodeError:
            raise InvalidArgument(f"request is not a valid {method.input_type.name}") from None
        clamp(grpc_path, message, claims)
        return message.SerializeToString()


def _public_pool(services: list[ServiceDescriptor]) -> descriptor_pool.DescriptorPool:
    """A pool with the public files and what they import, and nothing else."""
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(file: FileDescriptor) -> None:
        if file.name in added:
            return
        for dependency in file.dependencies:
            add(dependency)
        pool.AddSerializedFile(file.serialized_pb)
        added.add(file.name)

    for service in services:
        add(service.file)
    # grpc's stubs declare upb's FileDescriptor class, which they do not relate to protobuf's.
    add(health_pb2.DESCRIPTOR)  # type: ignore[arg-type]
    add(reflection_pb2.DESCRIPTOR)  # type: ignore[arg-type]
    return pool


def build_grpc_server(
    services: list[ServiceDescriptor], upstream: Upstream, authenticator: Authenticator
) -> tuple[grpc.aio.Server, health.aio.HealthServicer, list[str]]:
    server = grpc.aio.server(
        interceptors=[aio_server_interceptor(), ErrorInterceptor()],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    server.add_generic_rpc_handlers((PublicServiceProxy(services, upstream, authenticator),))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [s.full_name for s in services]
    reflected = [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(reflected, server, pool=_public_pool(services))
    return server, health_servicer, names
