"""Token verification for services that do not hold the signing key.

Keys and the revocation list come from the policy service over gRPC and are
refreshed every few seconds, and at once when a token names an unknown key
(key rotation). Revocation therefore reaches these services within
`refresh_seconds`; policy itself checks revocation on every syscall.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

import grpc

from aos.v1 import policy_internal_pb2 as pb
from aos.v1 import policy_internal_pb2_grpc as pb_grpc
from aos_common.capabilities import WILDCARD
from aos_common.config import AUTH_MODES
from aos_common.errors import Unauthenticated, Unavailable
from aos_common.permissions import operator_only
from aos_common.rpc import call
from aos_common.tokens import Claims, KeySet, kid_of, public_keys_from_jwks, verify

log = logging.getLogger(__name__)

# Who a request is from when auth is disabled (or warn mode let it through
# without a valid token). Never used in enforced mode.
ANONYMOUS = Claims(
    jti="anonymous",
    subject="anonymous",
    kind="operator",
    capabilities=frozenset({WILDCARD}),
    backends=frozenset({WILDCARD}),
    issued_at=0,
    expires_at=2**62,
)


class TokenVerifier:
    def __init__(self, policy: pb_grpc.PolicyServiceStub, refresh_seconds: float = 2.0):
        self._policy = policy
        self._refresh_seconds = refresh_seconds
        self._keyset = KeySet()
        self._lock = asyncio.Lock()
        self._last_forced = 0.0

    async def refresh(self) -> None:
        async with self._lock:
            jwks = await call(self._policy.GetJwks(pb.GetJwksRequest(), timeout=3), "policy")
            revoked = await call(self._policy.GetRevocations(pb.GetRevocationsRequest(), timeout=3), "policy")
            self._keyset = KeySet(
                keys=public_keys_from_jwks(jwks.jwks_json),
                revoked=frozenset(revoked.revoked_jtis),
                fetched_at=time.monotonic(),
            )

    async def _ensure_fresh(self, kid: str) -> None:
        stale = self._keyset.age() > self._refresh_seconds
        unknown = kid not in self._keyset.keys and time.monotonic() - self._last_forced > 1.0
        if stale or unknown:
            if unknown:
                self._last_forced = time.monotonic()
            try:
                await self.refresh()
            except Unavailable:
                if not self._keyset.keys:
                    raise
                log.warning("policy unreachable; verifying with cached keys")

    async def verify(self, token: str) -> Claims:
        await self._ensure_fresh(kid_of(token))
        claims = verify(token, self._keyset.keys)
        if claims.jti in self._keyset.revoked or claims.parent_jti in self._keyset.revoked:
            raise Unauthenticated("token has been revoked")
        return claims


def bearer_from_metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    for key, value in metadata or ():
        if key.lower() == "authorization":
            text = value.decode() if isinstance(value, bytes) else value
            scheme, _, token = text.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("authorization must be 'Bearer <token>'")
            return token.strip()
    return None


async def caller_claims(context: grpc.aio.ServicerContext, verifier: TokenVerifier, mode: str) -> Claims:
    """The verified operator calling a public RPC. A present token must be valid
    in every mode; a missing one is refused unless auth is warn or disabled."""
    if mode not in AUTH_MODES:
        raise ValueError(mode)
    token = bearer_from_metadata(context.invocation_metadata())
    if token is None:
        if mode == "enforced":
            raise Unauthenticated("a bearer token is required")
        return ANONYMOUS
    return operator_only(await verifier.verify(token))
