"""What a chain entry is: the record the hash covers, and the hash formula.

The record is built here, once, as RFC 8785 bytes, and stored verbatim, so
verification never depends on canonicalising the same value twice the same
way. The formula is duplicated in SQL (migrations/0002_audit.sql), where
appends compute it in one round trip; a test holds the two equal.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aos_common.canonical import canonical_json, parse_json_object
from aos_common.errors import InvalidArgument

ENTRY_TAG = b"aosiq.audit.v1\x00"
GENESIS_TAG = b"aosiq.audit.genesis.v1\x00"

EVENT_TYPE = re.compile(r"^[A-Z][A-Z0-9_]{2,63}$")
MAX_PAYLOAD_BYTES = 256 * 1024
MAX_ACTOR_FIELD = 256


def genesis_hash(session_id: str) -> bytes:
    """The prev_hash of a session's first entry."""
    return hashlib.sha256(GENESIS_TAG + session_id.encode()).digest()


def entry_hash(prev_hash: bytes, chain_seq: int, record: bytes) -> bytes:
    return hashlib.sha256(ENTRY_TAG + prev_hash + chain_seq.to_bytes(8, "big") + record).digest()


def parse_session_id(text: str) -> str:
    """The canonical (lower-case, hyphenated) form of a session UUID."""
    try:
        return str(uuid.UUID(text))
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidArgument(f"session_id must be a UUID, got {text[:64]!r}") from exc


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with microseconds, the one form records carry."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Actor:
    service: str
    subject: str = ""
    jti: str = ""

    def __post_init__(self) -> None:
        if not self.service:
            raise InvalidArgument("actor.service is required")
        for name in ("service", "subject", "jti"):
            if len(getattr(self, name)) > MAX_ACTOR_FIELD:
                raise InvalidArgument(f"actor.{name} is longer than {MAX_ACTOR_FIELD} characters")


@dataclass(frozen=True)
class NewEvent:
    """A validated event, ready to append: its record bytes are final."""

    session_id: str
    event_type: str
    record: bytes
    created_at: datetime


def new_event(session_id: str, event_type: str, actor: Actor, payload_json: str, now: datetime) -> NewEvent:
    """Validate an append request and build its canonical record."""
    session = parse_session_id(session_id)
    if not EVENT_TYPE.match(event_type):
        raise InvalidArgument(
            f"event_type must match {EVENT_TYPE.pattern} (upper-case name), got {event_type[:80]!r}"
        )
    if len(payload_json.encode()) > MAX_PAYLOAD_BYTES:
        raise InvalidArgument(f"payload_json is larger than {MAX_PAYLOAD_BYTES} bytes")
    payload = parse_json_object(payload_json, "payload_json")
    record = canonical_json(
        {
            "session_id": session,
            "event_type": event_type,
            "actor": {"service": actor.service, "subject": actor.subject, "jti": actor.jti},
            "payload": payload,
            "created_at": format_timestamp(now),
        }
    )
    return NewEvent(session_id=session, event_type=event_type, record=record, created_at=now)


@dataclass(frozen=True)
class RecordView:
    """What a reader shows of a record, parsed from the hashed bytes themselves."""

    actor: Actor | None
    payload: dict[str, Any]
    created_at: str


def read_record(record: bytes) -> RecordView | None:
    """Parse a stored record for display; None when it is not a record we wrote."""
    try:
        value = parse_json_object(record.decode(), "record")
        actor = value["actor"]
        payload = value["payload"]
        created_at = value["created_at"]
        if not isinstance(payload, dict) or not isinstance(created_at, str):
            return None
        return RecordView(
            actor=Actor(str(actor["service"]), str(actor.get("subject", "")), str(actor.get("jti", ""))),
            payload=payload,
            created_at=created_at,
        )
    except (InvalidArgument, UnicodeDecodeError, KeyError, TypeError, AttributeError):
        return None
