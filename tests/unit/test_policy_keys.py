"""Signing keys: private on disk, public in the JWKS, rotation without breaking old tokens."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from aos_common.tokens import Claims, kid_of, public_keys_from_jwks, verify
from policy_svc.keys import KeyRing, thumbprint


def operator(jti: str) -> Claims:
    now = int(time.time())
    return Claims(jti=jti, subject="op", kind="operator", capabilities=frozenset({"x"}),
                  backends=frozenset({"ollama"}), issued_at=now, expires_at=now + 60)


def test_kid_is_the_rfc7638_thumbprint() -> None:
    # RFC 8037 appendix A.3: the thumbprint of its example Ed25519 key.
    x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    raw = base64.urlsafe_b64decode(x + "=")
    assert thumbprint(Ed25519PublicKey.from_public_bytes(raw)) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_first_start_creates_a_private_key_directory(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    key = ring.ensure()
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    assert key.path.stat().st_mode & 0o777 == 0o600
    assert ring.ensure().kid == key.kid  # a restart reuses it


def test_jwks_carries_public_keys_only(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path)
    ring.ensure()
    ring.rotate()
    jwks = ring.jwks()
    assert len(jwks["keys"]) == 2
    assert all(set(k) == {"kty", "crv", "x", "kid", "alg", "use"} for k in jwks["keys"])
    assert set(public_keys_from_jwks(json.dumps(jwks))) == set(ring.public_keys())


def test_rotation_signs_with_the_new_key_and_old_tokens_still_verify(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path)
    old = ring.ensure()
    old_token, _ = ring.sign(operator("before").to_payload())
    new = ring.rotate()
    new_token, kid = ring.sign(operator("after").to_payload())
    assert new.kid != old.kid and kid == new.kid == kid_of(new_token)
    assert kid_of(old_token) == old.kid
    published = public_keys_from_jwks(json.dumps(ring.jwks()))
    assert verify(old_token, published).jti == "before"
    assert verify(new_token, published).jti == "after"


def test_another_replica_sees_a_rotation(tmp_path: Path) -> None:
    first, second = KeyRing(tmp_path), KeyRing(tmp_path)
    first.ensure()
    assert second.current().kid == first.current().kid
    rotated = first.rotate()
    assert second.current().kid == rotated.kid


def test_prune_drops_only_retired_keys_no_live_token_needs(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path)
    oldest = ring.ensure()
    middle = ring.rotate()
    newest = ring.rotate()
    assert ring.prune({middle.kid}) == [oldest.kid]
    assert set(ring.public_keys()) == {middle.kid, newest.kid}
    assert ring.prune(set()) == [middle.kid]
    assert set(ring.public_keys()) == {newest.kid}  # the signing key always stays
