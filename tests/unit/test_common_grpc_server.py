"""The shared server bootstrap: domain errors keep their reason over gRPC;
anything unexpected becomes INTERNAL with a reference, never a stack trace."""

from __future__ import annotations

import grpc
import pytest

from aos.v1 import status_pb2, status_pb2_grpc
from aos_common.errors import NotFound
from aos_common.rpc import reason_of
from tests.unit.loopback import serving


class Failing(status_pb2_grpc.StatusServiceServicer):
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def GetStatus(self, request, context):
        raise self.error


async def call_with(error: Exception) -> grpc.aio.AioRpcError:
    def register(server: grpc.aio.Server) -> list[str]:
        status_pb2_grpc.add_StatusServiceServicer_to_server(Failing(error), server)
        return ["aos.v1.StatusService"]

    async with serving(register) as (_server, address), grpc.aio.insecure_channel(address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await status_pb2_grpc.StatusServiceStub(channel).GetStatus(status_pb2.GetStatusRequest(), timeout=5)
    return caught.value


async def test_domain_error_keeps_its_reason() -> None:
    error = await call_with(NotFound("no such agent"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert reason_of(error)[0] == "NOT_FOUND"
    assert error.details() == "no such agent"


async def test_unexpected_error_is_internal_without_a_trace() -> None:
    error = await call_with(ValueError("secret internals at /srv/app.py line 3"))
    assert error.code() == grpc.StatusCode.INTERNAL
    assert reason_of(error)[0] == "INTERNAL"
    details = error.details() or ""
    assert "reference" in details
    assert "secret internals" not in details and "Traceback" not in details
