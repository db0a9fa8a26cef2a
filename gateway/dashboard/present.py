"""Turning backend messages into text an operator reads: pretty JSON, times, ages.

Everything here returns plain strings; escaping is left to jinja's autoescape,
so no helper can mark backend-supplied text as safe HTML.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime

from google.protobuf import struct_pb2, timestamp_pb2
from google.protobuf.json_format import MessageToDict


def pretty_json_text(text: str) -> str:
    """Indented JSON for display; text that is not JSON is shown exactly as it came."""
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        return text
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def pretty_struct(value: struct_pb2.Struct) -> str:
    return json.dumps(MessageToDict(value), indent=2, ensure_ascii=False, sort_keys=True)


def args_hash_matches(args_canonical: str, args_hash: str) -> bool:
    """Whether the shown arguments are the bytes the hash covers (the approval binds to the hash)."""
    return hashlib.sha256(args_canonical.encode("utf-8")).hexdigest() == args_hash.lower()


def timestamp_text(value: timestamp_pb2.Timestamp) -> str:
    if not value.seconds and not value.nanos:
        return "—"
    return value.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def age_text(value: timestamp_pb2.Timestamp, now: datetime | None = None) -> str:
    if not value.seconds and not value.nanos:
        return "—"
    seconds = int(((now or datetime.now(UTC)) - value.ToDatetime(tzinfo=UTC)).total_seconds())
    if seconds < 0:
        return "just now"
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600:02d}h"


def size_text(text: str) -> str:
    return f"{len(text.encode('utf-8')):,} bytes"


# Characters that render as nothing or reorder what surrounds them (bidi controls,
# zero-width and tag characters): an argument could read differently on screen
# than the bytes the approval binds to, so they are shown as visible codes.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000e0000-\U000e007f]"
)


def has_invisible(text: str) -> bool:
    return _INVISIBLE.search(text) is not None


def reveal_invisible(text: str) -> str:
    return _INVISIBLE.sub(lambda match: f"⟦U+{ord(match.group()):04X}⟧", text)
