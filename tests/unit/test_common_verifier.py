"""Bearer parsing, auth modes and key freshness on the backends."""

from __future__ import annotations

import json
import time
import uuid

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aos.v1 import policy_internal_pb2 as ppb
from aos.v1 import policy_internal_pb2_grpc as ppb_grpc
from aos_common.errors import Unauthenticated, Unavailable
from aos_common.rpc import channel
from aos_common.tokens import ALGORITHM, Claims
from aos_common.verifier import ANONYMOUS, TokenVerifier, bearer_from_metadata, caller_claims
from policy_svc.keys import public_jwk
from tests.unit.loopback import serving


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


class _KeysOnly(ppb_grpc.PolicyServiceServicer):
    """Policy as far as a verifier sees it: its public keys and no revocations."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._jwks = json.dumps({"keys": [{**public_jwk(private.public_key()), "kid": "k1", "alg": ALGORITHM}]})

    async def GetJwks(self, request, context):
        return ppb.GetJwksResponse(jwks_json=self._jwks)

    async def GetRevocations(self, request, context):
        return ppb.GetRevocationsResponse()


def _operator_token(private: Ed25519PrivateKey) -> tuple[str, Claims]:
    now = int(time.time())
    claims = Claims(jti=str(uuid.uuid4()), subject="op", kind="operator", capabilities=frozenset({"x"}),
                    backends=frozenset(), issued_at=now, expires_at=now + 60)
    return jwt.encode(claims.to_payload(), private, algorithm=ALGORITHM, headers={"kid": "k1"}), claims


async def test_cached_keys_verify_while_policy_is_unreachable() -> None:
    private = Ed25519PrivateKey.generate()

    def register(server: grpc.aio.Server) -> list[str]:
        ppb_grpc.add_PolicyServiceServicer_to_server(_KeysOnly(private), server)
        return ["aos.v1.PolicyService"]

    text, claims = _operator_token(private)
    async with serving(register) as (server, address), channel(address) as policy:
        verifier = TokenVerifier(ppb_grpc.PolicyServiceStub(policy), refresh_seconds=0.0)
        assert await verifier.verify(text) == claims
        await server.stop(0)
        with pytest.raises(Unavailable):
            await verifier.refresh()
        assert await verifier.verify(text) == claims


async def test_without_cached_keys_an_unreachable_policy_is_unavailable() -> None:
    text, _ = _operator_token(Ed25519PrivateKey.generate())
    async with channel("127.0.0.1:1") as policy:
        verifier = TokenVerifier(ppb_grpc.PolicyServiceStub(policy), refresh_seconds=0.0)
        with pytest.raises(Unavailable):
            await verifier.verify(text)
