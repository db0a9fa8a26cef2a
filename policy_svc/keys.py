"""Token signing keys: Ed25519, one PEM file each, newest signs.

Files live in one directory (mode 0700, files 0600) named
`<created_ns>-<kid>.pem`, so the newest key is the last name in sort order and
every replica sharing the directory agrees on it. The `kid` is the key's
RFC 7638 JWK thumbprint. A retired key stays published in the JWKS until no
unexpired token it signed remains (`prune`), so rotation never invalidates a
token early.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from aos_common.tokens import ALGORITHM

_SUFFIX = ".pem"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}


def thumbprint(public_key: Ed25519PublicKey) -> str:
    """RFC 7638: SHA-256 of the required JWK members, sorted, without whitespace."""
    members = json.dumps(public_jwk(public_key), sort_keys=True, separators=(",", ":"))
    return _b64url(hashlib.sha256(members.encode()).digest())


@dataclass(frozen=True)
class SigningKey:
    kid: str
    created_ns: int
    private_key: Ed25519PrivateKey
    path: Path

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()


class KeyRing:
    """The signing keys in `directory`, re-read whenever its listing changes
    (a `rotate-key` run or another replica's rotation)."""

    def __init__(self, directory: Path):
        self._directory = directory
        self._listing: tuple[str, ...] = ()
        self._keys: list[SigningKey] = []

    @property
    def directory(self) -> Path:
        return self._directory

    def ensure(self) -> SigningKey:
        """Create the directory and a first key if there is none; return the signing key."""
        self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._directory.chmod(0o700)
        self._refresh()
        if not self._keys:
            self.rotate()
        return self.current()

    def rotate(self) -> SigningKey:
        """Add a new key; it signs from now on. Older keys keep verifying."""
        self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        private_key = Ed25519PrivateKey.generate()
        kid = thumbprint(private_key.public_key())
        created_ns = max(time.time_ns(), self._newest_ns() + 1)
        path = self._directory / f"{created_ns:020d}-{kid}{_SUFFIX}"
        pem = private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # O_EXCL + 0600 from the first byte: the key is never readable by others.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        self._refresh()
        return self.current()

    def current(self) -> SigningKey:
        self._refresh()
        if not self._keys:
            raise RuntimeError(f"no signing key in {self._directory}; start the service to create one")
        return self._keys[-1]

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        self._refresh()
        return {key.kid: key.public_key for key in self._keys}

    def jwks(self) -> dict[str, Any]:
        """Public halves only: what the gateway, kernel and audit verify with."""
        self._refresh()
        return {"keys": [{**public_jwk(key.public_key), "kid": key.kid, "alg": ALGORITHM, "use": "sig"}
                         for key in self._keys]}

    def sign(self, payload: dict[str, Any]) -> tuple[str, str]:
        """(token, kid) signed by the newest key."""
        key = self.current()
        token = jwt.encode(payload, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
        return token, key.kid

    def age_seconds(self) -> float:
        return (time.time_ns() - self.current().created_ns) / 1e9

    def prune(self, kids_still_needed: set[str]) -> list[str]:
        """Delete retired keys no unexpired token depends on; return their kids.
        The newest key is never pruned."""
        self._refresh()
        removed = []
        for key in self._keys[:-1]:
            if key.kid not in kids_still_needed:
                key.path.unlink(missing_ok=True)
                removed.append(key.kid)
        self._refresh()
        return removed

    def _newest_ns(self) -> int:
        return self._keys[-1].created_ns if self._keys else 0

    def _refresh(self) -> None:
        try:
            listing = tuple(sorted(n for n in os.listdir(self._directory) if n.endswith(_SUFFIX)))
        except FileNotFoundError:
            listing = ()
        if listing == self._listing:
            return
        self._keys = [self._load(self._directory / name) for name in listing]
        self._listing = listing

    @staticmethod
    def _load(path: Path) -> SigningKey:
        private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(private_key, Ed25519PrivateKey):
            raise RuntimeError(f"{path} is not an Ed25519 private key")
        created, _, _ = path.name.partition("-")
        try:
            created_ns = int(created)
        except ValueError as exc:
            raise RuntimeError(f"{path.name}: key files are named <created_ns>-<kid>.pem") from exc
        return SigningKey(kid=thumbprint(private_key.public_key()), created_ns=created_ns,
                          private_key=private_key, path=path)
