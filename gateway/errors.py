"""The contract's HTTP error body (the Google HTTP error shape) and where its fields come from.

The HTTP status follows the gRPC code through the one standard table in
`aos_common.errors` (finer for the few reasons it names); the reason is the
backend's `ErrorInfo` when it sent one.
"""

from __future__ import annotations

from typing import Any

import grpc
from starlette.responses import JSONResponse

from aos_common.errors import DEFAULT_REASON_BY_CODE, DOMAIN, AosError, http_status_of

ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"


def error_body(
    code: grpc.StatusCode, message: str, reason: str, metadata: dict[str, str] | None = None
) -> dict[str, Any]:
    detail: dict[str, Any] = {"@type": ERROR_INFO_TYPE, "reason": reason, "domain": DOMAIN}
    if metadata:
        detail["metadata"] = dict(metadata)
    return {
        "error": {
            "code": http_status_of(code, reason),
            "status": code.name,
            "message": message,
            "details": [detail],
        }
    }


def error_response(
    code: grpc.StatusCode,
    message: str,
    reason: str | None = None,
    metadata: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    http_status: int | None = None,
) -> JSONResponse:
    """`http_status` overrides the table only where HTTP has a finer word (405)."""
    body = error_body(code, message, reason or DEFAULT_REASON_BY_CODE.get(code, "INTERNAL"), metadata)
    if http_status is not None:
        body["error"]["code"] = http_status
    all_headers = dict(headers or {})
    if code == grpc.StatusCode.UNAUTHENTICATED:
        all_headers.setdefault("WWW-Authenticate", 'Bearer realm="aosiq"')
    return JSONResponse(body, status_code=body["error"]["code"], headers=all_headers)


def from_aos_error(error: AosError, headers: dict[str, str] | None = None) -> JSONResponse:
    return error_response(error.code, error.message, error.reason, error.metadata, headers)


class BackendError(Exception):
    """A backend's refusal or failure, kept whole so both edges can report it faithfully.

    `trailing_metadata` is what the gRPC proxy hands back unchanged (it holds
    the backend's `grpc-status-details-bin`); REST uses code, message and reason.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        reason: str,
        reason_metadata: dict[str, str],
        trailing_metadata: tuple[tuple[str, str | bytes], ...],
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.reason_metadata = reason_metadata
        self.trailing_metadata = trailing_metadata


def from_backend_error(error: BackendError, headers: dict[str, str] | None = None) -> JSONResponse:
    return error_response(error.code, error.message, error.reason, error.reason_metadata, headers)
