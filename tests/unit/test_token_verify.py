"""Token verification: what is checked on every use even when a token's signature was checked before."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aos_common.errors import TokenExpired, Unauthenticated
from aos_common.tokens import ALGORITHM, Claims, _SignatureMemo, _SignedClaims, verify

KID = "k1"


def token(private: Ed25519PrivateKey, lifetime: int = 60, not_before: int = 0) -> tuple[str, Claims]:
    now = int(time.time())
    claims = Claims(jti=str(uuid.uuid4()), subject="op", kind="operator", capabilities=frozenset({"x"}),
                    backends=frozenset(), issued_at=now, expires_at=now + lifetime)
    payload = {**claims.to_payload(), "nbf": now + not_before}
    return jwt.encode(payload, private, algorithm=ALGORITHM, headers={"kid": KID}), claims


def test_a_token_seen_before_still_expires() -> None:
    private = Ed25519PrivateKey.generate()
    text, claims = token(private)
    keys = {KID: private.public_key()}
    assert verify(text, keys) == claims
    assert verify(text, keys, now=claims.expires_at - 1) == claims
    with pytest.raises(TokenExpired):
        verify(text, keys, now=claims.expires_at)


def test_a_token_seen_before_is_still_not_valid_before_its_time() -> None:
    private = Ed25519PrivateKey.generate()
    text, claims = token(private, not_before=30)
    keys = {KID: private.public_key()}
    assert verify(text, keys, now=claims.issued_at + 31) == claims
    with pytest.raises(Unauthenticated, match="not valid yet"):
        verify(text, keys, now=claims.issued_at + 29)


def test_a_token_seen_before_is_refused_once_its_key_leaves_the_key_set() -> None:
    private = Ed25519PrivateKey.generate()
    text, _ = token(private)
    verify(text, {KID: private.public_key()})
    with pytest.raises(Unauthenticated, match="unknown key"):
        verify(text, {"k2": private.public_key()})


def test_a_token_seen_before_is_refused_when_its_kid_now_names_another_key() -> None:
    private = Ed25519PrivateKey.generate()
    text, _ = token(private)
    verify(text, {KID: private.public_key()})
    with pytest.raises(Unauthenticated, match="signature"):
        verify(text, {KID: Ed25519PrivateKey.generate().public_key()})


def test_a_forged_copy_of_a_token_seen_before_is_refused() -> None:
    private = Ed25519PrivateKey.generate()
    text, _ = token(private)
    keys = {KID: private.public_key()}
    verify(text, keys)
    head, body, signature = text.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    with pytest.raises(Unauthenticated):
        verify(f"{head}.{body}.{flipped}", keys)
    other = jwt.encode({**jwt.decode(text, options={"verify_signature": False}), "caps": ["*"]},
                       Ed25519PrivateKey.generate(), algorithm=ALGORITHM, headers={"kid": KID})
    with pytest.raises(Unauthenticated):
        verify(other, keys)


def test_the_memo_is_bounded_and_forgets_the_oldest_first() -> None:
    memo = _SignatureMemo(capacity=2)
    entries = [_SignedClaims(KID, None, token(Ed25519PrivateKey.generate())[1], 0) for _ in range(3)]
    for name, entry in zip("abc", entries, strict=True):
        memo.put(name, entry)
    assert memo.get("a") is None and memo.get("b") is entries[1] and memo.get("c") is entries[2]
