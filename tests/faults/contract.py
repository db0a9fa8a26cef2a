"""The contract's error shape (ARCHITECTURE.md §3), checked on what clients actually receive."""

from __future__ import annotations

from typing import Any

ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"


def contract_error(body: Any, http_status: int) -> bool:
    """Whether `body` is the contract's error shape for `http_status`."""
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        return False
    error = body["error"]
    details = error.get("details")
    return (
        error.get("code") == http_status
        and isinstance(error.get("status"), str)
        and isinstance(error.get("message"), str)
        and "Traceback" not in error["message"]
        and isinstance(details, list)
        and len(details) >= 1
        and all(
            isinstance(d, dict) and d.get("@type") == ERROR_INFO_TYPE and isinstance(d.get("reason"), str)
            and d.get("domain") == "aosiq"
            for d in details
        )
    )
