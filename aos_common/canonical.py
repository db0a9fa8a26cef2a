"""Canonical JSON (RFC 8785) and the hashes built on it.

Arguments are hashed exactly once, in canonical form, so that an approval bound
to `SHA-256(canonical_json(args))` means the same bytes everywhere.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

from aos_common.errors import InvalidArgument

MAX_SAFE_INTEGER = 2**53 - 1


def _check_integers(value: Any, path: str) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise InvalidArgument(
                f"integer at {path or '$'} is outside ±(2^53-1) and cannot be hashed exactly; "
                "send it as a string"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidArgument(f"object key at {path or '$'} is not a string")
            _check_integers(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_integers(item, f"{path}[{index}]")


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes of `value`; refuses what JSON cannot carry exactly."""
    _check_integers(value, "")
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise InvalidArgument(f"value cannot be canonicalised: {exc}") from exc


def parse_json_object(text: str, what: str = "value") -> dict[str, Any]:
    """Parse text that must hold one JSON object, with a clear error otherwise."""
    try:
        value = json.loads(text) if text else {}
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidArgument(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidArgument(f"{what} must be a JSON object")
    return value


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def args_hash(args: Any) -> str:
    """Hex SHA-256 of the canonical JSON of tool arguments."""
    return sha256_hex(canonical_json(args))
