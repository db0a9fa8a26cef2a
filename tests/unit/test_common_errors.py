"""The one error table: every contract reason maps to the status the contract names."""

from __future__ import annotations

import pytest

from aos_common.errors import HTTP_STATUS_BY_CODE, REASON_CODES, AosError

CONTRACT = {
    "INSUFFICIENT_AUTHORITY": 403,
    "UNAUTHENTICATED": 401,
    "TOKEN_EXPIRED": 401,
    "BACKEND_NOT_ALLOWED": 403,
    "COST_CEILING_EXCEEDED": 429,
    "AGENT_LIMIT_EXCEEDED": 429,
    "APPROVAL_ARGS_MISMATCH": 409,
    "INVALID_TRANSITION": 409,
    "INVALID_ARGUMENT": 400,
    "NOT_FOUND": 404,
}


@pytest.mark.parametrize(("reason", "status"), sorted(CONTRACT.items()))
def test_reason_maps_to_contract_http_status(reason: str, status: int) -> None:
    assert HTTP_STATUS_BY_CODE[REASON_CODES[reason]] == status
    assert AosError("x", reason=reason).http_status == status


def test_unknown_reason_cannot_be_raised() -> None:
    with pytest.raises(ValueError, match="unknown reason"):
        AosError("x", reason="MADE_UP")
