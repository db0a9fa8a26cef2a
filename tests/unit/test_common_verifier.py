"""Bearer parsing and auth modes on the backends."""

from __future__ import annotations

import pytest

from aos_common.errors import Unauthenticated
from aos_common.verifier import ANONYMOUS, bearer_from_metadata, caller_claims


class _Context:
    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self._metadata = metadata

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata


class _NeverCalled:
    async def verify(self, token: str) -> None:
        raise AssertionError("no token should reach the verifier")


def test_bearer_is_extracted_case_insensitively() -> None:
    assert bearer_from_metadata((("authorization", "bearer abc"),)) == "abc"
    assert bearer_from_metadata((("x-other", "1"),)) is None


@pytest.mark.parametrize("value", ["Basic abc", "Bearer", "Bearer   ", "abc"])
def test_malformed_authorization_is_refused(value: str) -> None:
    with pytest.raises(Unauthenticated):
        bearer_from_metadata((("authorization", value),))


async def test_missing_token_is_refused_when_enforced() -> None:
    with pytest.raises(Unauthenticated):
        await caller_claims(_Context(()), _NeverCalled(), "enforced")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["warn", "disabled"])
async def test_missing_token_is_anonymous_when_not_enforced(mode: str) -> None:
    assert await caller_claims(_Context(()), _NeverCalled(), mode) is ANONYMOUS  # type: ignore[arg-type]
