"""The one table from domain errors to gRPC status codes, HTTP statuses and reasons.

Every refusal the runtime makes is an `AosError` carrying one of the contract's
reason codes. The gRPC interceptor in `aos_common.grpc_server` turns it into a
status with a `google.rpc.ErrorInfo` detail; the gateway turns that into the
Google HTTP error body using `HTTP_STATUS_BY_CODE` (the grpc-gateway table, with
`HTTP_STATUS_BY_REASON` where a reason needs a finer status). Each reason has its
class in `ERROR_CLASSES`, which the client side uses to raise what the server raised.
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
    "MESSAGE_TOO_LARGE": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "APPROVAL_ARGS_MISMATCH": grpc.StatusCode.ABORTED,
    "INVALID_TRANSITION": grpc.StatusCode.ABORTED,
    "TOOL_DEFINITION_CHANGED": grpc.StatusCode.ABORTED,
    "UNTRUSTED_ARGUMENT": grpc.StatusCode.PERMISSION_DENIED,
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

# Where a reason needs a finer HTTP status than its gRPC code's. A message over
# gRPC's size limit is RESOURCE_EXHAUSTED like a spent budget, but 429 would tell
# a client to retry later, and the same message will never fit: 413 says so.
HTTP_STATUS_BY_REASON: dict[str, int] = {
    "MESSAGE_TOO_LARGE": 413,
}

# The reason a bare status (one without ErrorInfo, e.g. from grpc itself) gets.
# grpc's own RESOURCE_EXHAUSTED is a message over `grpc.max_receive_message_length`;
# a cost ceiling always travels with its ErrorInfo.
DEFAULT_REASON_BY_CODE: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.INVALID_ARGUMENT: "INVALID_ARGUMENT",
    grpc.StatusCode.NOT_FOUND: "NOT_FOUND",
    grpc.StatusCode.PERMISSION_DENIED: "INSUFFICIENT_AUTHORITY",
    grpc.StatusCode.UNAUTHENTICATED: "UNAUTHENTICATED",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "MESSAGE_TOO_LARGE",
    grpc.StatusCode.ALREADY_EXISTS: "ALREADY_EXISTS",
    grpc.StatusCode.UNAVAILABLE: "UNAVAILABLE",
    grpc.StatusCode.DEADLINE_EXCEEDED: "UNAVAILABLE",
    grpc.StatusCode.UNIMPLEMENTED: "NOT_FOUND",
}


def http_status_of(code: grpc.StatusCode, reason: str) -> int:
    """The HTTP status for a failure with this gRPC code and reason."""
    return HTTP_STATUS_BY_REASON.get(reason, HTTP_STATUS_BY_CODE.get(code, 500))


class AosError(Exception):
    """A refusal with a contract reason code and a message written for people."""

    reason = "INTERNAL"

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.reason not in REASON_CODES:
            raise TypeError(f"{cls.__name__} names unknown reason code {cls.reason!r}")

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
        return http_status_of(self.code, self.reason)


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


class ToolDefinitionChanged(AosError):
    reason = "TOOL_DEFINITION_CHANGED"


class UntrustedArgument(AosError):
    reason = "UNTRUSTED_ARGUMENT"


class InvalidArgument(AosError):
    reason = "INVALID_ARGUMENT"


class NotFound(AosError):
    reason = "NOT_FOUND"


class AlreadyExists(AosError):
    reason = "ALREADY_EXISTS"


class Unavailable(AosError):
    reason = "UNAVAILABLE"


class MessageTooLarge(AosError):
    reason = "MESSAGE_TOO_LARGE"


class Internal(AosError):
    reason = "INTERNAL"


# reason -> the class that stands for it, so a refusal rebuilt after a gRPC hop
# (aos_common.rpc) is caught by `except Unavailable` like one raised in-process.
ERROR_CLASSES: dict[str, type[AosError]] = {
    cls.reason: cls
    for cls in (
        InsufficientAuthority, Unauthenticated, TokenExpired, BackendNotAllowed, CostCeilingExceeded,
        AgentLimitExceeded, MessageTooLarge, ApprovalArgsMismatch, InvalidTransition, ToolDefinitionChanged,
        UntrustedArgument, InvalidArgument, NotFound, AlreadyExists, Unavailable, Internal,
    )
}


def error_for(reason: str, message: str, metadata: dict[str, str] | None = None) -> AosError:
    """The error of `reason`'s class; a reason the table does not know is INTERNAL."""
    return ERROR_CLASSES.get(reason, Internal)(message, metadata=metadata)
