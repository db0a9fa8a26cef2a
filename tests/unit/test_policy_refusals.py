"""The refusal catalogue: every way a token can be wrong is refused, each on its own.

A token is accepted only when its signature verifies with a key in the ring
AND its recorded lineage proves policy minted it as a narrowing of its
parents. Both halves are exercised here without services; the integration
tests run the same checks against the real database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import replace
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aos_common.errors import AosError
from aos_common.tokens import Claims
from policy_svc.capability import TokenRecord, check_lineage, record_of, verify_signature
from policy_svc.keys import KeyRing

# Fixed when the module is collected, which can be minutes before a test runs:
# every lifetime below is hours long so that no test depends on how long the suite took.
NOW = int(time.time())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    keys = KeyRing(tmp_path_factory.mktemp("keys"))
    keys.ensure()
    return keys


def claims(jti: str, parent: str = "", caps=("fs.read_file",), exp: int = NOW + 20_000, **extra) -> Claims:
    return Claims(jti=jti, subject=f"op-{jti}", kind="operator", capabilities=frozenset(caps),
                  backends=frozenset({"anthropic"}), issued_at=NOW - 10, expires_at=exp, parent_jti=parent, **extra)


ROOT = claims("root", caps=("*",), exp=NOW + 80_000)
PARENT = claims("parent", "root", caps=("fs.read_file", "fs.list_dir"), exp=NOW + 40_000)
CHILD = claims("child", "parent", caps=("fs.read_file",), exp=NOW + 20_000)


def chain_for(ring: KeyRing, *tokens: Claims) -> list[TokenRecord]:
    kid = ring.current().kid
    return [record_of(c, kid) for c in tokens]


def accept(ring: KeyRing, token: str, chain: list[TokenRecord]) -> Claims:
    """What policy does with a presented token: signature, then lineage."""
    verified = verify_signature(token, ring.public_keys())
    check_lineage(verified, jwt.get_unverified_header(token)["kid"], chain)
    return verified


def assert_refused(ring: KeyRing, token: str, chain: list[TokenRecord], reason: str = "UNAUTHENTICATED") -> None:
    with pytest.raises(AosError) as caught:
        accept(ring, token, chain)
    assert caught.value.reason == reason


def test_a_well_formed_token_with_its_lineage_is_accepted(ring: KeyRing) -> None:
    token, _ = ring.sign(CHILD.to_payload())
    assert accept(ring, token, chain_for(ring, CHILD, PARENT, ROOT)).jti == "child"


# --- signature and time


def test_wrong_key_is_refused(ring: KeyRing) -> None:
    other = Ed25519PrivateKey.generate()
    token = jwt.encode(CHILD.to_payload(), other, algorithm="EdDSA", headers={"kid": ring.current().kid})
    assert_refused(ring, token, chain_for(ring, CHILD, PARENT, ROOT))


def test_garbled_signature_is_refused(ring: KeyRing) -> None:
    token, _ = ring.sign(CHILD.to_payload())
    head, body, signature = token.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert_refused(ring, f"{head}.{body}.{flipped}", chain_for(ring, CHILD, PARENT, ROOT))


def test_truncated_signature_is_refused(ring: KeyRing) -> None:
    token, _ = ring.sign(CHILD.to_payload())
    assert_refused(ring, token[:-8], chain_for(ring, CHILD, PARENT, ROOT))
    head, body, _sig = token.split(".")
    assert_refused(ring, f"{head}.{body}.", chain_for(ring, CHILD, PARENT, ROOT))


def test_alg_none_is_refused(ring: KeyRing) -> None:
    header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": ring.current().kid}).encode())
    body = b64(json.dumps(CHILD.to_payload()).encode())
    assert_refused(ring, f"{header}.{body}.", chain_for(ring, CHILD, PARENT, ROOT))


def test_hs256_signed_with_the_public_key_is_refused(ring: KeyRing) -> None:
    public = ring.current().public_key
    for secret in (
        public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
    ):
        header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": ring.current().kid}).encode())
        body = b64(json.dumps(CHILD.to_payload()).encode())
        mac = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
        assert_refused(ring, f"{header}.{body}.{b64(mac)}", chain_for(ring, CHILD, PARENT, ROOT))


def test_unknown_kid_is_refused(ring: KeyRing, tmp_path: Path) -> None:
    stranger = KeyRing(tmp_path / "other")
    stranger.ensure()
    token, _ = stranger.sign(CHILD.to_payload())
    assert_refused(ring, token, chain_for(ring, CHILD, PARENT, ROOT))


def test_expired_token_is_refused_as_expired(ring: KeyRing) -> None:
    stale = claims("child", "parent", exp=NOW - 1)
    token, _ = ring.sign(stale.to_payload())
    assert_refused(ring, token, chain_for(ring, stale, PARENT, ROOT), reason="TOKEN_EXPIRED")


def test_not_yet_valid_token_is_refused(ring: KeyRing) -> None:
    payload = {**CHILD.to_payload(), "nbf": NOW + 10_000}
    token, _ = ring.sign(payload)
    assert_refused(ring, token, chain_for(ring, CHILD, PARENT, ROOT))


# --- lineage


def test_child_outliving_its_parent_is_refused(ring: KeyRing) -> None:
    long_lived = replace(CHILD, expires_at=PARENT.expires_at + 60)
    token, _ = ring.sign(long_lived.to_payload())
    assert_refused(ring, token, chain_for(ring, long_lived, PARENT, ROOT))


def test_widened_capabilities_are_refused(ring: KeyRing) -> None:
    widened = replace(CHILD, capabilities=frozenset({"fs.read_file", "fs.delete_file"}))
    token, _ = ring.sign(widened.to_payload())
    assert_refused(ring, token, chain_for(ring, widened, PARENT, ROOT))


def test_widened_backends_are_refused(ring: KeyRing) -> None:
    widened = replace(CHILD, backends=frozenset({"anthropic", "openai"}))
    token, _ = ring.sign(widened.to_payload())
    assert_refused(ring, token, chain_for(ring, widened, PARENT, ROOT))


def test_claims_differing_from_the_record_are_refused(ring: KeyRing) -> None:
    widened = replace(CHILD, capabilities=frozenset({"fs.read_file", "fs.list_dir"}))
    token, _ = ring.sign(widened.to_payload())  # within the parent, but not what was minted
    assert_refused(ring, token, chain_for(ring, CHILD, PARENT, ROOT))


def test_altered_parent_link_is_refused(ring: KeyRing) -> None:
    skipped = replace(CHILD, parent_jti="root")  # claims the grandparent as its parent
    token, _ = ring.sign(skipped.to_payload())
    assert_refused(ring, token, chain_for(ring, CHILD, PARENT, ROOT))


def test_removed_parent_link_is_refused(ring: KeyRing) -> None:
    orphan = replace(CHILD, parent_jti="")
    token, _ = ring.sign(orphan.to_payload())
    assert_refused(ring, token, chain_for(ring, CHILD, PARENT, ROOT))


def test_reordered_lineage_is_refused(ring: KeyRing) -> None:
    token, _ = ring.sign(CHILD.to_payload())
    assert_refused(ring, token, chain_for(ring, CHILD, ROOT, PARENT))


def test_missing_ancestor_is_refused(ring: KeyRing) -> None:
    token, _ = ring.sign(CHILD.to_payload())
    assert_refused(ring, token, chain_for(ring, CHILD, ROOT))


def test_unrecorded_jti_is_refused(ring: KeyRing) -> None:
    token, _ = ring.sign(CHILD.to_payload())
    assert_refused(ring, token, [])
    assert_refused(ring, token, chain_for(ring, PARENT, ROOT))


def test_revoked_ancestor_is_refused(ring: KeyRing) -> None:
    token, _ = ring.sign(CHILD.to_payload())
    records = chain_for(ring, CHILD, PARENT, ROOT)
    for index in range(len(records)):
        revoked = list(records)
        revoked[index] = replace(revoked[index], revoked=True)
        assert_refused(ring, token, revoked)


def test_record_signed_by_another_kid_is_refused(ring: KeyRing) -> None:
    token, _ = ring.sign(CHILD.to_payload())
    records = chain_for(ring, CHILD, PARENT, ROOT)
    records[0] = replace(records[0], kid="some-other-kid")
    assert_refused(ring, token, records)
