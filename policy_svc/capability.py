"""Capability tokens: narrowing, lineage checks, signing and verification.

A token is trusted only when three things agree: its Ed25519 signature (a key
in the ring), its row in `policy.capability_tokens` (same claims, same key),
and its lineage (every recorded ancestor unrevoked, and each link no broader
and no longer-lived than its parent). So a token that was signed but never
recorded, or whose recorded parent was revoked, is refused even though its
signature is good.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import jwt

from aos_common.capabilities import intersect, is_subset
from aos_common.errors import TokenExpired, Unauthenticated
from aos_common.tokens import Claims, verify
from aos_common.verifier import ANONYMOUS, bearer_from_metadata

# A ceiling or expiry that does not bind (a class template never expires).
UNBOUNDED_EXP = 2**62

AGENT_SUBJECT_PREFIX = "agent:"


@dataclass(frozen=True)
class Grant:
    """The narrowable part of a token: what it allows, where, until when, for how much."""

    caps: frozenset[str]
    backends: frozenset[str]
    expires_at: int
    ceiling_usd: float | None = None


def narrow(parent: Grant, request: Grant) -> Grant:
    """What `parent` may pass on when `request` is asked for; always within `parent`.

    Capabilities intersect; backends intersect (an empty request inherits the
    parent's); the expiry is the earlier; the ceiling the lower.
    """
    backends = intersect(parent.backends, request.backends) if request.backends else parent.backends
    ceilings = [c for c in (parent.ceiling_usd, request.ceiling_usd) if c is not None]
    return Grant(
        caps=intersect(parent.caps, request.caps),
        backends=frozenset(backends),
        expires_at=min(parent.expires_at, request.expires_at),
        ceiling_usd=min(ceilings) if ceilings else None,
    )


def grant_of(claims: Claims) -> Grant:
    return Grant(claims.capabilities, claims.backends, claims.expires_at, claims.cost_ceiling_usd)


def within(child: Grant, parent: Grant) -> bool:
    """Whether `child` is no broader than `parent` in every field."""
    if not (is_subset(child.caps, parent.caps) and is_subset(child.backends, parent.backends)):
        return False
    if child.expires_at > parent.expires_at:
        return False
    if parent.ceiling_usd is None:
        return True
    return child.ceiling_usd is not None and child.ceiling_usd <= parent.ceiling_usd


def agent_subject(agent_id: str) -> str:
    return AGENT_SUBJECT_PREFIX + agent_id


def agent_id_of(claims: Claims) -> str:
    return claims.subject.removeprefix(AGENT_SUBJECT_PREFIX) if claims.kind == "agent" else ""


@dataclass(frozen=True)
class TokenRecord:
    """A minted token as policy recorded it."""

    jti: str
    parent_jti: str | None
    kid: str
    subject: str
    kind: str
    caps: frozenset[str]
    backends: frozenset[str]
    issued_at: int
    expires_at: int
    session_id: str = ""
    agent_id: str = ""
    agent_class: str = ""
    ceiling_usd: float | None = None
    revoked: bool = False

    @property
    def grant(self) -> Grant:
        return Grant(self.caps, self.backends, self.expires_at, self.ceiling_usd)


def record_of(claims: Claims, kid: str, agent_id: str = "") -> TokenRecord:
    return TokenRecord(
        jti=claims.jti,
        parent_jti=claims.parent_jti or None,
        kid=kid,
        subject=claims.subject,
        kind=claims.kind,
        caps=claims.capabilities,
        backends=claims.backends,
        issued_at=claims.issued_at,
        expires_at=claims.expires_at,
        session_id=claims.session_id,
        agent_id=agent_id,
        agent_class=claims.agent_class,
        ceiling_usd=claims.cost_ceiling_usd,
    )


def _same_ceiling(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=0, abs_tol=1e-9)


def _matches(claims: Claims, kid: str, record: TokenRecord) -> bool:
    return (
        record.kid == kid
        and record.subject == claims.subject
        and record.kind == claims.kind
        and record.caps == claims.capabilities
        and record.backends == claims.backends
        and record.expires_at == claims.expires_at
        and record.session_id == claims.session_id
        and record.agent_class == claims.agent_class
        and (record.parent_jti or "") == claims.parent_jti
        and _same_ceiling(record.ceiling_usd, claims.cost_ceiling_usd)
    )


def check_record(claims: Claims, kid: str, record: TokenRecord | None) -> None:
    """Refuse unless `record` shows policy minted this very token, claims and key alike."""
    if record is None or record.jti != claims.jti:
        raise Unauthenticated("token is not one policy minted")
    if not _matches(claims, kid, record):
        raise Unauthenticated("token claims differ from what policy minted")


def check_lineage(claims: Claims, kid: str, chain: Sequence[TokenRecord]) -> None:
    """Refuse unless `chain` (the token's record, then each recorded ancestor)
    proves the token was minted by policy, is unrevoked, and narrows its parents."""
    check_record(claims, kid, chain[0] if chain else None)
    for index, record in enumerate(chain):
        if record.revoked:
            raise Unauthenticated("token or one of its ancestors has been revoked")
        if record.parent_jti is None:
            if index != len(chain) - 1:
                raise Unauthenticated("token lineage is inconsistent")
            return
        if index + 1 >= len(chain) or chain[index + 1].jti != record.parent_jti:
            raise Unauthenticated("token lineage is broken: a parent is missing")
        if not within(record.grant, chain[index + 1].grant):
            raise Unauthenticated("token is broader or longer-lived than its parent")


def verify_signature(token: str, public_keys: Mapping[str, object], *, allow_expired: bool = False) -> Claims:
    """Signature, issuer, audience and time (time skipped with `allow_expired`)."""
    try:
        return verify(token, public_keys)
    except TokenExpired:
        if not allow_expired:
            raise
    # Settling an expired agent's last syscall still needs to know who it was:
    # verify everything else as of the last second the token was valid.
    try:
        last_valid = float(jwt.decode(token, options={"verify_signature": False})["exp"]) - 1
    except (jwt.PyJWTError, KeyError, TypeError, ValueError) as exc:
        raise Unauthenticated("token claims are malformed") from exc
    return verify(token, public_keys, now=last_valid)


def bearer_or_anonymous(metadata: Iterable[tuple[str, str | bytes]] | None, mode: str) -> str | None:
    """The caller's bearer token; None means ANONYMOUS (allowed outside enforced mode)."""
    token = bearer_from_metadata(metadata)
    if token is None and mode == "enforced":
        raise Unauthenticated("a bearer token is required")
    return token


def is_anonymous(claims: Claims) -> bool:
    return claims is ANONYMOUS
