"""The one table from domain errors to gRPC status codes, HTTP statuses and reasons.

Every refusal the runtime makes is an `AosError` carrying one of the contract's
reason codes. The gRPC interceptor in `aos_common.grpc_server` turns it into a
status with a `google.rpc.ErrorInfo` detail; the gateway turns that into the
Google HTTP error body using `HTTP_STATUS_BY_CODE` (the grpc-gateway table).
"""

from __future__ import annotations

import grpc

DOMAIN = "aosiq"

# reason -> gRPC status code. The HTTP status follows from the code.
REASON_CODES: dict[str, grpc.StatusCode] = {
    "INSUFFICIENT_AUTHORITY": grpc.StatusCode.PERMISSION_DENIED,
    "UNAUTHENTICATED": grpc.StatusCode.UNAUTHENTICATED,
    "TOKEN_EXPIRED": grpc.StatusCode.UNAUTHENTICATED,
    "BACKEND_NOT_ALLOWED": grpc.StatusCode.PERMISSION_DENIED,
    "COST_CEILING_EXCEEDED": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "AGENT_LIMIT_EXCEEDED": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "APPROVAL_ARGS_MISMATCH": grpc.StatusCode.ABORTED,
    "INVALID_TRANSITION": grpc.StatusCode.ABORTED,
    "INVALID_ARGUMENT": grpc.StatusCode.INVALID_ARGUMENT,
    "NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "ALREADY_EXISTS": grpc.StatusCode.ALREADY_EXISTS,
    "UNAVAILABLE": grpc.StatusCode.UNAVAILABLE,
    "INTERNAL": grpc.StatusCode.INTERNAL,
}

# The standard gRPC -> HTTP mapping (as used by grpc-gateway and Envoy).
HTTP_STATUS_BY_CODE: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}

# The reason a bare status (one without ErrorInfo, e.g. from grpc itself) gets.
DEFAULT_REASON_BY_CODE: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.INVALID_ARGUMENT: "INVALID_ARGUMENT",
    grpc.StatusCode.NOT_FOUND: "NOT_FOUND",
    grpc.StatusCode.PERMISSION_DENIED: "INSUFFICIENT_AUTHORITY",
    grpc.StatusCode.UNAUTHENTICATED: "UNAUTHENTICATED",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "COST_CEILING_EXCEEDED",
    grpc.StatusCode.ALREADY_EXISTS: "ALREADY_EXISTS",
    grpc.StatusCode.UNAVAILABLE: "UNAVAILABLE",
    grpc.StatusCode.DEADLINE_EXCEEDED: "UNAVAILABLE",
    grpc.StatusCode.UNIMPLEMENTED: "NOT_FOUND",
}


class AosError(Exception):
    """A refusal with a contract reason code and a message written for people."""

    reason = "INTERNAL"

    def __init__(self, message: str, *, reason: str | None = None, metadata: dict[str, str] | None = None):
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        if self.reason not in REASON_CODES:
            raise ValueError(f"unknown reason code {self.reason!r}")
        self.message = message
        self.metadata = dict(metadata or {})

    @property
    def code(self) -> grpc.StatusCode:
        return REASON_CODES[self.reason]

    @property
    def http_status(self) -> int:
        return HTTP_STATUS_BY_CODE[self.code]


class InsufficientAuthority(AosError):
    reason = "INSUFFICIENT_AUTHORITY"


class Unauthenticated(AosError):
    reason = "UNAUTHENTICATED"


class TokenExpired(AosError):
    reason = "TOKEN_EXPIRED"


class BackendNotAllowed(AosError):
    reason = "BACKEND_NOT_ALLOWED"


class CostCeilingExceeded(AosError):
    reason = "COST_CEILING_EXCEEDED"


class AgentLimitExceeded(AosError):
    reason = "AGENT_LIMIT_EXCEEDED"


class ApprovalArgsMismatch(AosError):
    reason = "APPROVAL_ARGS_MISMATCH"


class InvalidTransition(AosError):
    reason = "INVALID_TRANSITION"


class InvalidArgument(AosError):
    reason = "INVALID_ARGUMENT"


class NotFound(AosError):
    reason = "NOT_FOUND"


class AlreadyExists(AosError):
    reason = "ALREADY_EXISTS"


class Unavailable(AosError):
    reason = "UNAVAILABLE"
