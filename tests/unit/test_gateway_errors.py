"""The contract's error body: each reason reaches the caller with its HTTP status."""

import json

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from aos_common.errors import REASON_CODES, AosError
from gateway.errors import from_aos_error, from_backend_error
from gateway.upstream import backend_error

EXPECTED_HTTP = {
    "INSUFFICIENT_AUTHORITY": 403,
    "UNAUTHENTICATED": 401,
    "TOKEN_EXPIRED": 401,
    "BACKEND_NOT_ALLOWED": 403,
    "COST_CEILING_EXCEEDED": 429,
    "MESSAGE_TOO_LARGE": 413,
    "APPROVAL_ARGS_MISMATCH": 409,
    "INVALID_TRANSITION": 409,
    "INVALID_ARGUMENT": 400,
    "NOT_FOUND": 404,
}


def body_of(response):
    return json.loads(response.body)


def rpc_error(code: grpc.StatusCode, message: str, reason: str | None) -> grpc.aio.AioRpcError:
    trailing = grpc.aio.Metadata()
    if reason is not None:
        status = status_pb2.Status(code=code.value[0], message=message)
        status.details.add().Pack(error_details_pb2.ErrorInfo(reason=reason, domain="aosiq"))
        trailing.add("grpc-status-details-bin", status.SerializeToString())
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailing, details=message)


@pytest.mark.parametrize(("reason", "http"), sorted(EXPECTED_HTTP.items()))
def test_local_refusal_maps_to_contract_status(reason, http):
    response = from_aos_error(AosError("refused", reason=reason))
    assert response.status_code == http
    error = body_of(response)["error"]
    assert error["code"] == http
    assert error["status"] == REASON_CODES[reason].name
    assert error["message"] == "refused"
    assert error["details"] == [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "aosiq"}
    ]


@pytest.mark.parametrize(("reason", "http"), sorted(EXPECTED_HTTP.items()))
def test_backend_error_info_reaches_the_http_caller(reason, http):
    error = backend_error(rpc_error(REASON_CODES[reason], "backend says no", reason), "kernel", 5)
    response = from_backend_error(error)
    assert response.status_code == http
    body = body_of(response)["error"]
    assert body["details"][0]["reason"] == reason
    assert body["message"] == "backend says no"


def test_bare_unavailable_becomes_503_without_internal_addresses():
    raw = rpc_error(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; ipv4:10.0.0.7:50061", None)
    error = backend_error(raw, "kernel", 5)
    body = body_of(from_backend_error(error))["error"]
    assert body["code"] == 503 and body["status"] == "UNAVAILABLE"
    assert body["details"][0]["reason"] == "UNAVAILABLE"
    assert "10.0.0.7" not in body["message"]
    # The gRPC edge gets the same ErrorInfo in the trailers.
    assert any(k == "grpc-status-details-bin" for k, _ in error.trailing_metadata)


def test_grpcs_own_size_refusal_is_413_message_too_large_not_a_cost_ceiling():
    raw = rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "Received message larger than max (5242880 vs. 4194304)", None)
    body = body_of(from_backend_error(backend_error(raw, "kernel", 5)))["error"]
    assert body["code"] == 413 and body["status"] == "RESOURCE_EXHAUSTED"
    assert body["details"][0]["reason"] == "MESSAGE_TOO_LARGE"


def test_deadline_becomes_504():
    error = backend_error(rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", None), "audit", 2)
    body = body_of(from_backend_error(error))["error"]
    assert body["code"] == 504 and "2s" in body["message"]


def test_unauthenticated_carries_www_authenticate():
    response = from_aos_error(AosError("no token", reason="UNAUTHENTICATED"))
    assert response.headers["www-authenticate"].startswith("Bearer")
