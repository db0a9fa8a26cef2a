"""Client side of the services' gRPC: channels with tracing, and one error type.

Callers never see raw `AioRpcError`s: `call()` turns a failed RPC into the
`AosError` the remote side raised (same reason code, same class from
`aos_common.errors.ERROR_CLASSES`), so a refusal from policy travels unchanged
through the kernel to the gateway and the outside client, and `except Unavailable`
catches a service that is down one hop away.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TypeVar

import grpc
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.instrumentation.grpc import aio_client_interceptors

from aos_common.errors import DEFAULT_REASON_BY_CODE, AosError, Unavailable, error_for
from aos_common.tls import ServiceTls

T = TypeVar("T")

DEFAULT_TIMEOUT_SECONDS = 10.0


CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
    ("grpc.enable_retries", 1),
    ("grpc.keepalive_time_ms", 30_000),
]


def channel(address: str, identity: ServiceTls | None = None) -> grpc.aio.Channel:
    """A channel to another service with trace propagation: mutual TLS as
    `identity` when given one (aos_common/tls.py), plaintext otherwise."""
    if identity is None:
        return grpc.aio.insecure_channel(address, interceptors=aio_client_interceptors(), options=CHANNEL_OPTIONS)
    return grpc.aio.secure_channel(
        address, identity.channel_credentials(), interceptors=aio_client_interceptors(), options=CHANNEL_OPTIONS
    )


def reason_of(error: grpc.aio.AioRpcError) -> tuple[str, dict[str, str]]:
    """The ErrorInfo reason (and metadata) a failed call carried, or one derived from its code."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    return info.reason, dict(info.metadata)
    return DEFAULT_REASON_BY_CODE.get(error.code(), "INTERNAL"), {}


def to_aos_error(error: grpc.aio.AioRpcError, service: str) -> AosError:
    """The failed call as the subclass of its reason (INTERNAL for a reason this side does not know)."""
    reason, metadata = reason_of(error)
    if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) and reason == "UNAVAILABLE":
        return Unavailable(f"{service} service is unavailable; retry shortly")
    return error_for(reason, error.details() or reason, metadata)


async def call(awaitable: Awaitable[T], service: str) -> T:
    """Await one RPC, translating its failure into an AosError."""
    try:
        return await awaitable
    except grpc.aio.AioRpcError as error:
        raise to_aos_error(error, service) from None


def bearer_metadata(token: str | None) -> Sequence[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),) if token else ()
