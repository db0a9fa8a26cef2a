"""Where each public RPC goes: the owning backend's channel, or the gateway itself.

Both edges (REST and the gRPC proxy) call through here with serialized
request bytes, so there is one forwarding path, one deadline policy and one
way of reading a backend's failure.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.rpc import error_details_pb2, status_pb2

from aos_common.errors import DOMAIN
from aos_common.rpc import channel, reason_of
from aos_common.tls import ServiceTls
from gateway.errors import BackendError

# Public service -> the backend that owns it (ARCHITECTURE.md §1).
SERVICE_OWNERS: dict[str, str] = {
    "aos.v1.AgentService": "kernel",
    "aos.v1.ToolServerService": "kernel",
    "aos.v1.AgentClassService": "policy",
    "aos.v1.ApprovalService": "policy",
    "aos.v1.TokenService": "policy",
    "aos.v1.AuditService": "audit",
}

LocalMethod = Callable[[bytes], Awaitable[bytes]]

Metadata = Sequence[tuple[str, str | bytes]]


@dataclass(frozen=True)
class BackendAddresses:
    kernel: str
    policy: str
    audit: str


def check_owners(services: list[ServiceDescriptor], local_services: set[str]) -> None:
    """Refuse to start when a public service has nobody to answer it."""
    orphans = [s.full_name for s in services if s.full_name not in SERVICE_OWNERS and s.full_name not in local_services]
    if orphans:
        raise RuntimeError(f"public services without an owner: {', '.join(orphans)}")


def _status_trailer(code: grpc.StatusCode, message: str, reason: str) -> tuple[str, bytes]:
    detail = status_pb2.Status(code=code.value[0], message=message)
    detail.details.add().Pack(error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN))
    return ("grpc-status-details-bin", detail.SerializeToString())


def backend_error(error: grpc.aio.AioRpcError, backend: str, timeout: float | None) -> BackendError:
    """Read a failed call. Transport failures get a message of our own, because
    grpc's wording names internal addresses that outside callers should not see."""
    code = error.code()
    trailing = tuple(
        (k, v)
        for k, v in (error.trailing_metadata() or ())
        if not k.startswith("grpc-") or k == "grpc-status-details-bin"
    )
    has_details = any(k == "grpc-status-details-bin" for k, _ in trailing)
    reason, reason_metadata = reason_of(error)
    if not has_details and code == grpc.StatusCode.UNAVAILABLE:
        message = f"{backend} service is unavailable; retry shortly"
    elif not has_details and code == grpc.StatusCode.DEADLINE_EXCEEDED:
        message = f"{backend} service did not answer within {timeout or 0:g}s"
    elif not has_details and code in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL):
        message = f"{backend} service failed"
    else:
        message = error.details() or reason
    if not has_details:
        trailing = (*trailing, _status_trailer(code, message, reason))
    return BackendError(code, message, reason, reason_metadata, trailing)


class Upstream:
    """Channels to the three backends plus the methods the gateway answers itself."""

    def __init__(self, addresses: BackendAddresses, timeout_seconds: float, identity: ServiceTls | None = None):
        self.timeout_seconds = timeout_seconds
        self._channels = {
            "kernel": channel(addresses.kernel, identity),
            "policy": channel(addresses.policy, identity),
            "audit": channel(addresses.audit, identity),
        }
        self._local: dict[str, LocalMethod] = {}

    def channel_of(self, backend: str) -> grpc.aio.Channel:
        return self._channels[backend]

    def serve_locally(self, grpc_path: str, method: LocalMethod) -> None:
        self._local[grpc_path] = method

    @property
    def local_services(self) -> set[str]:
        return {path.split("/")[1] for path in self._local}

    async def call(
        self, grpc_path: str, request: bytes, metadata: Metadata, time_left: float | None = None
    ) -> bytes:
        """Forward one unary call; raises BackendError with the backend's status.

        `time_left` is the caller's own remaining deadline (gRPC callers set one).
        """
        local = self._local.get(grpc_path)
        if local is not None:
            return await local(request)
        service = grpc_path.split("/")[1]
        backend = SERVICE_OWNERS[service]
        # A backend that does not answer must not hold the caller forever.
        deadline = self.timeout_seconds if time_left is None else min(time_left, self.timeout_seconds)
        multicallable: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = self._channels[backend].unary_unary(grpc_path)
        try:
            return await multicallable(request, metadata=tuple(metadata), timeout=deadline)
        except grpc.aio.AioRpcError as error:
            raise backend_error(error, backend, deadline) from None

    async def close(self) -> None:
        for chan in self._channels.values():
            await chan.close()
