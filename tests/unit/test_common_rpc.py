"""Failures after a real gRPC hop: each reason comes back as its own class, and
gRPC's own size refusal is MESSAGE_TOO_LARGE, never a spent cost ceiling."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from aos.v1 import audit_internal_pb2 as audit_pb
from aos.v1 import audit_internal_pb2_grpc as audit_grpc
from aos.v1 import status_pb2, status_pb2_grpc
from aos_common.errors import (
    ERROR_CLASSES,
    REASON_CODES,
    AosError,
    CostCeilingExceeded,
    MessageTooLarge,
    Unavailable,
    error_for,
)
from aos_common.grpc_server import MAX_MESSAGE_BYTES
from aos_common.rpc import call, channel
from tests.unit.loopback import serving


class Refusing(status_pb2_grpc.StatusServiceServicer, audit_grpc.AuditWriterServiceServicer):
    """Raises whatever the test sets; a call that gets through at all is answered."""

    def __init__(self) -> None:
        self.error: AosError | None = None

    async def GetStatus(self, request, context):
        if self.error is not None:
            raise self.error
        return status_pb2.GetStatusResponse()

    async def AppendEvent(self, request, context):
        return audit_pb.AppendEventResponse(chain_seq=1)


@pytest.fixture(scope="module")
async def served() -> AsyncIterator[tuple[Refusing, grpc.aio.Channel]]:
    servicer = Refusing()

    def register(server: grpc.aio.Server) -> list[str]:
        status_pb2_grpc.add_StatusServiceServicer_to_server(servicer, server)
        audit_grpc.add_AuditWriterServiceServicer_to_server(servicer, server)
        return ["aos.v1.StatusService", "aos.v1.AuditWriterService"]

    async with serving(register) as (_server, address), channel(address) as client:
        yield servicer, client


@pytest.mark.parametrize("reason", sorted(REASON_CODES))
async def test_each_reason_comes_back_as_its_own_class(served, reason: str) -> None:
    servicer, client = served
    servicer.error = error_for(reason, f"refused: {reason}", {"why": "test"})
    with pytest.raises(AosError) as caught:
        await call(status_pb2_grpc.StatusServiceStub(client).GetStatus(status_pb2.GetStatusRequest(), timeout=5),
                   "status")
    assert type(caught.value) is ERROR_CLASSES[reason]
    assert caught.value.reason == reason
    if reason != "UNAVAILABLE":  # which the caller words itself: "<service> service is unavailable"
        assert caught.value.message == f"refused: {reason}"
        assert caught.value.metadata == {"why": "test"}


async def test_a_service_that_is_down_is_caught_as_unavailable() -> None:
    async with channel("127.0.0.1:1") as client:
        with pytest.raises(Unavailable, match="status service is unavailable"):
            await call(status_pb2_grpc.StatusServiceStub(client).GetStatus(status_pb2.GetStatusRequest(), timeout=5),
                       "status")


async def test_a_message_over_the_size_limit_is_message_too_large(served) -> None:
    _servicer, client = served
    request = audit_pb.AppendEventRequest(session_id="s", event_type="E", payload_json="x" * (MAX_MESSAGE_BYTES + 1))
    with pytest.raises(MessageTooLarge) as caught:
        await call(audit_grpc.AuditWriterServiceStub(client).AppendEvent(request, timeout=10), "audit")
    assert not isinstance(caught.value, CostCeilingExceeded)
    assert caught.value.reason == "MESSAGE_TOO_LARGE"
    assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert caught.value.http_status == 413
