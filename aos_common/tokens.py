"""Verifying capability tokens (Ed25519 JWTs) with the policy service's public keys.

Only the policy service signs (policy_svc/capability.py). Every other service
verifies with the JWKS it fetches from policy, so none of them can mint.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt.algorithms import OKPAlgorithm

from aos_common.errors import TokenExpired, Unauthenticated

ISSUER = "aosiq-policy"
AUDIENCE = "aosiq"
ALGORITHM = "EdDSA"
REQUIRED_CLAIMS = ["exp", "iat", "nbf", "jti", "sub", "iss", "aud"]


@dataclass(frozen=True)
class Claims:
    """What a verified token says about its holder."""

    jti: str
    subject: str
    kind: str  # operator | agent
    capabilities: frozenset[str]
    backends: frozenset[str]
    issued_at: int
    expires_at: int
    session_id: str = ""
    parent_jti: str = ""
    cost_ceiling_usd: float | None = None
    agent_class: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ("operator", "agent"):
            raise Unauthenticated(f"token kind {self.kind!r} is not recognised")
        if self.expires_at <= self.issued_at:
            raise Unauthenticated("token expires before it was issued")

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Claims:
        try:
            ceiling = payload.get("ceiling")
            return cls(
                jti=str(payload["jti"]),
                subject=str(payload["sub"]),
                kind=str(payload.get("kind", "operator")),
                capabilities=frozenset(map(str, payload.get("caps", []))),
                backends=frozenset(map(str, payload.get("backends", []))),
                issued_at=int(payload["iat"]),
                expires_at=int(payload["exp"]),
                session_id=str(payload.get("sid", "")),
                parent_jti=str(payload.get("pjti", "")),
                cost_ceiling_usd=float(ceiling) if ceiling is not None else None,
                agent_class=str(payload.get("cls", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise Unauthenticated("token claims are malformed") from exc

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "jti": self.jti,
            "sub": self.subject,
            "kind": self.kind,
            "caps": sorted(self.capabilities),
            "backends": sorted(self.backends),
            "iat": self.issued_at,
            "nbf": self.issued_at,
            "exp": self.expires_at,
        }
        if self.session_id:
            payload["sid"] = self.session_id
        if self.parent_jti:
            payload["pjti"] = self.parent_jti
        if self.cost_ceiling_usd is not None:
            payload["ceiling"] = self.cost_ceiling_usd
        if self.agent_class:
            payload["cls"] = self.agent_class
        return payload


def public_keys_from_jwks(jwks_json: str) -> dict[str, Any]:
    """kid -> Ed25519 public key, refusing anything that is not OKP/Ed25519."""
    keys: dict[str, Any] = {}
    for jwk in json.loads(jwks_json).get("keys", []):
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or "d" in jwk:
            continue
        keys[str(jwk["kid"])] = OKPAlgorithm.from_jwk(json.dumps(jwk))
    return keys


def kid_of(token: str) -> str:
    """The signing key a token names (from its header, read once per token)."""
    checked = _signatures.get(token)
    if checked is not None:
        return checked.kid
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthenticated("token is not a well-formed JWT") from exc
    if header.get("alg") != ALGORITHM:
        raise Unauthenticated("token algorithm is not accepted")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Unauthenticated("token names no signing key")
    return kid


def verify(token: str, keys: Mapping[str, Any], now: float | None = None, leeway: int = 0) -> Claims:
    """Check signature, issuer, audience and time (as of `now`, default the
    clock); return the claims.

    Revocation is checked separately (it needs state); see TokenVerifier.
    """
    checked = _signatures.get(token)
    if checked is None or keys.get(checked.kid) != checked.key:
        checked = _check_signature(token, keys)
        _signatures.put(token, checked)
    _check_times(checked, time.time() if now is None else now, leeway)
    return checked.claims


@dataclass(frozen=True)
class _SignedClaims:
    """A token whose signature, issuer and audience checked out under `key`."""

    kid: str
    key: Any
    claims: Claims
    not_before: int


def _check_signature(token: str, keys: Mapping[str, Any]) -> _SignedClaims:
    kid = kid_of(token)
    key = keys.get(kid)
    if key is None:
        raise Unauthenticated("token was signed by an unknown key")
    try:
        payload = jwt.decode(
            token,
            key=key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": REQUIRED_CLAIMS, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
        not_before = int(payload["nbf"])
    except (TypeError, ValueError, OverflowError) as exc:
        raise Unauthenticated("token claims are malformed") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated("token signature or claims are invalid") from exc
    return _SignedClaims(kid, key, Claims.from_payload(payload), not_before)


def _check_times(checked: _SignedClaims, now: float, leeway: int) -> None:
    claims = checked.claims
    if claims.expires_at <= now - leeway:
        raise TokenExpired("token has expired")
    if checked.not_before > now + leeway or claims.issued_at > now + leeway:
        raise Unauthenticated("token is not valid yet")


class _SignatureMemo:
    """Tokens already found well signed, by their exact text.

    An Ed25519 check of the same bytes under the same key always gives the
    same answer, so it is done once per token (and again if its key changes or
    leaves the key set). Times are checked on every use and revocation by the
    callers, so nothing a memo could make stale is skipped. Bounded: the
    oldest entry goes first.
    """

    def __init__(self, capacity: int):
        self._capacity = capacity
        self._entries: dict[str, _SignedClaims] = {}

    def get(self, token: str) -> _SignedClaims | None:
        return self._entries.get(token)

    def put(self, token: str, checked: _SignedClaims) -> None:
        if len(self._entries) >= self._capacity:
            del self._entries[next(iter(self._entries))]
        self._entries[token] = checked


_signatures = _SignatureMemo(capacity=4096)


@dataclass
class KeySet:
    """Public keys and revoked jtis as last fetched from policy."""

    keys: dict[str, Any] = field(default_factory=dict)
    revoked: frozenset[str] = frozenset()
    fetched_at: float = 0.0

    def age(self) -> float:
        return time.monotonic() - self.fetched_at
