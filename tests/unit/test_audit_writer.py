"""The one audit writer, as kernel and policy use it: what goes on the wire, in
whose name, and that any failure to record is Unavailable."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from aos.v1 import audit_internal_pb2 as audit_pb
from aos_common.audit_writer import APPEND_TIMEOUT_SECONDS, AuditWriter
from aos_common.errors import InvalidArgument, Unavailable
from aos_common.tokens import Claims
from kernel_svc.audit import AuditClient
from policy_svc.audit import AuditLog

OPERATOR = Claims(jti="j-op", subject="alice", kind="operator", capabilities=frozenset(), backends=frozenset(),
                  issued_at=0, expires_at=2**40)
PAYLOAD = {"b": 1.0, "a": "é", "nested": {"z": [1, 2], "y": None}}
CANONICAL = '{"a":"é","b":1,"nested":{"y":null,"z":[1,2]}}'


def refusal(code: grpc.StatusCode, reason: str) -> grpc.aio.AioRpcError:
    status = status_pb2.Status(code=code.value[0], message="no")
    status.details.add().Pack(error_details_pb2.ErrorInfo(reason=reason, domain="aosiq"))
    trailing = grpc.aio.Metadata(("grpc-status-details-bin", status.SerializeToString()))
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailing, details="no")


class FakeWriterStub:
    def __init__(self, failure: grpc.aio.AioRpcError | None = None) -> None:
        self.failure = failure
        self.requests: list[audit_pb.AppendEventRequest] = []
        self.timeouts: list[Any] = []

    async def AppendEvent(self, request: audit_pb.AppendEventRequest, **options: Any) -> Any:
        self.requests.append(request)
        self.timeouts.append(options.get("timeout"))
        if self.failure is not None:
            raise self.failure
        return audit_pb.AppendEventResponse(chain_seq=7)


class FakeChannel:
    """What AuditLog builds its stub on: unary_unary returns the fake's method."""

    def __init__(self, stub: FakeWriterStub) -> None:
        self._stub = stub

    def unary_unary(self, *_: Any, **__: Any) -> Any:
        return self._stub.AppendEvent


async def test_kernel_agent_events_are_rfc8785_in_the_agents_name() -> None:
    stub = FakeWriterStub()
    seq = await AuditClient(stub).append("s-1", "APP_X", "a-1", "j-agent", PAYLOAD)  # type: ignore[arg-type]
    (request,) = stub.requests
    assert seq == 7
    assert request.payload_json == CANONICAL
    assert (request.actor.service, request.actor.subject, request.actor.jti) == ("kernel", "agent:a-1", "j-agent")
    assert (request.session_id, request.event_type) == ("s-1", "APP_X")
    assert stub.timeouts == [APPEND_TIMEOUT_SECONDS]


async def test_kernel_operator_events_are_in_the_operators_name() -> None:
    stub = FakeWriterStub()
    await AuditClient(stub).append_for_operator("s-1", "E", OPERATOR, PAYLOAD)  # type: ignore[arg-type]
    actor = stub.requests[0].actor
    assert (actor.service, actor.subject, actor.jti) == ("kernel", "alice", "j-op")


@pytest.mark.parametrize(("actor", "subject", "jti"), [(OPERATOR, "alice", "j-op"), (None, "", "")])
async def test_policy_events_are_rfc8785_in_the_callers_name(actor: Claims | None, subject: str, jti: str) -> None:
    stub = FakeWriterStub()
    assert await AuditLog(FakeChannel(stub)).append("s-1", "E", actor, PAYLOAD) == 7  # type: ignore[arg-type]
    request = stub.requests[0]
    assert request.payload_json == CANONICAL
    assert (request.actor.service, request.actor.subject, request.actor.jti) == ("policy", subject, jti)
    assert stub.timeouts == [APPEND_TIMEOUT_SECONDS]


@pytest.mark.parametrize("code, reason", [(grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE"),
                                          (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
                                          (grpc.StatusCode.PERMISSION_DENIED, "INSUFFICIENT_AUTHORITY")])
async def test_any_failure_to_record_is_unavailable_for_kernel_and_policy(code: grpc.StatusCode, reason: str) -> None:
    stub = FakeWriterStub(refusal(code, reason))
    with pytest.raises(Unavailable, match="could not record"):
        await AuditClient(stub).append("s-1", "E", "a-1", "j", {})  # type: ignore[arg-type]
    with pytest.raises(Unavailable, match="could not record"):
        await AuditLog(FakeChannel(stub)).append("s-1", "E", None, {})  # type: ignore[arg-type]


async def test_a_payload_json_cannot_carry_is_refused_before_any_call() -> None:
    stub = FakeWriterStub()
    with pytest.raises(InvalidArgument):
        await AuditWriter(stub, "kernel").append("s-1", "E", {"n": 2**60})  # type: ignore[arg-type]
    assert stub.requests == []
