"""Anchor documents: signed checkpoints of a session's chain head.

An anchor says "session S had chain_seq N with head hash H, after the anchor
whose hash is P", signed with the audit service's own Ed25519 key. Anchors
link to each other like chain entries do, so a missing, extra or forked
anchor is visible. The signing key never leaves the audit service; a
PostgreSQL-only attacker can neither forge an anchor nor rewrite one already
in the store.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from aos_common.canonical import canonical_json
from audit_svc.chain import format_timestamp

ANCHOR_TAG = b"aosiq.anchor.v1\x00"
SIGNATURE_TAG = b"aosiq.anchor.signature.v1\x00"
DOCUMENT_VERSION = 1


class AnchorInvalid(ValueError):
    """An anchor object that is not a well-formed checkpoint signed by a known audit key."""

    def __init__(self, message: str, chain_seq: int = 0):
        super().__init__(message)
        self.chain_seq = chain_seq


@dataclass(frozen=True)
class Checkpoint:
    session_id: str
    chain_seq: int
    head_hash: bytes
    prev_anchor_hash: bytes  # empty for a session's first anchor
    created_at: datetime
    key_id: str

    def fields(self) -> dict[str, object]:
        return {
            "v": DOCUMENT_VERSION,
            "session_id": self.session_id,
            "chain_seq": self.chain_seq,
            "head_hash": self.head_hash.hex(),
            "prev_anchor_hash": self.prev_anchor_hash.hex(),
            "created_at": format_timestamp(self.created_at),
            "key_id": self.key_id,
        }

    def canonical(self) -> bytes:
        return canonical_json(self.fields())

    @property
    def anchor_hash(self) -> bytes:
        return hashlib.sha256(ANCHOR_TAG + self.canonical()).digest()

    @property
    def object_key(self) -> str:
        """Unique per anchor: a second anchor at the same seq gets another key, never an overwrite."""
        return f"anchors/{self.session_id}/{self.chain_seq:010d}-{self.anchor_hash.hex()[:16]}.json"


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class AnchorSigner:
    def __init__(self, private_key: Ed25519PrivateKey):
        self._private_key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    def sign(self, checkpoint: Checkpoint) -> bytes:
        """The object written to the store: the checkpoint and its signature."""
        signature = self._private_key.sign(SIGNATURE_TAG + checkpoint.canonical())
        return canonical_json({"checkpoint": checkpoint.fields(), "signature": signature.hex()})


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The audit service's anchor-signing key, created (mode 0600) on first start."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another replica created it first; use theirs
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


def parse_anchor(body: bytes, public_keys: dict[str, Ed25519PublicKey]) -> Checkpoint:
    """Check an anchor object's shape and signature; return its checkpoint."""
    try:
        document = json.loads(body)
        fields = document["checkpoint"]
        seq = fields["chain_seq"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise AnchorInvalid("anchor has no valid chain_seq")
        checkpoint = Checkpoint(
            session_id=str(fields["session_id"]),
            chain_seq=seq,
            head_hash=bytes.fromhex(fields["head_hash"]),
            prev_anchor_hash=bytes.fromhex(fields["prev_anchor_hash"]),
            created_at=datetime.fromisoformat(fields["created_at"]),
            key_id=str(fields["key_id"]),
        )
        signature = bytes.fromhex(document["signature"])
    except AnchorInvalid:
        raise
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise AnchorInvalid(f"anchor object is malformed ({type(exc).__name__})") from exc
    # The signature covers the re-encoded checkpoint, so the object must be exactly that.
    if fields != checkpoint.fields():
        raise AnchorInvalid(f"anchor at seq {seq} is not in the expected form", seq)
    public_key = public_keys.get(checkpoint.key_id)
    if public_key is None:
        raise AnchorInvalid(f"anchor at seq {seq} is signed by an unknown key {checkpoint.key_id!r}", seq)
    try:
        public_key.verify(signature, SIGNATURE_TAG + checkpoint.canonical())
    except InvalidSignature as exc:
        raise AnchorInvalid(f"anchor at seq {seq} has an invalid signature", seq) from exc
    return checkpoint
