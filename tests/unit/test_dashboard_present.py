"""Display helpers: full pretty arguments, the hash check, visible invisible characters."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from google.protobuf import timestamp_pb2

from gateway.dashboard.present import (
    age_text,
    args_hash_matches,
    has_invisible,
    pretty_json_text,
    reveal_invisible,
    timestamp_text,
)


def test_pretty_json_keeps_every_value_and_passes_non_json_through():
    long_value = "x" * 100_000
    pretty = pretty_json_text(f'{{"b":1,"a":"{long_value}"}}')
    assert long_value in pretty and pretty.index('"a"') < pretty.index('"b"')
    assert pretty_json_text("not json {") == "not json {"


def test_args_hash_matches_the_canonical_bytes_only():
    canonical = '{"path":"notes/old.txt"}'
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    assert args_hash_matches(canonical, digest) and args_hash_matches(canonical, digest.upper())
    assert not args_hash_matches('{"path":"notes/new.txt"}', digest)


def test_invisible_and_direction_characters_are_made_visible():
    for hidden in ("\u202e", "\u200b", "\u2066", "\ufeff", "\U000e0041", "\x1b"):
        text = f"a{hidden}b"
        assert has_invisible(text)
        shown = reveal_invisible(text)
        assert hidden not in shown and f"U+{ord(hidden):04X}" in shown
    assert not has_invisible("plain text\nwith lines\tand tabs, ünïcödé")
    assert reveal_invisible("plain\n") == "plain\n"


def test_times_and_ages():
    stamp = timestamp_pb2.Timestamp(seconds=int(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()))
    assert timestamp_text(stamp) == "2026-01-02 03:04:05 UTC"
    assert timestamp_text(timestamp_pb2.Timestamp()) == "—"
    now = datetime(2026, 1, 2, 4, 6, 7, tzinfo=UTC)
    assert age_text(stamp, now) == "1h 02m"
    assert age_text(stamp, datetime(2026, 1, 2, 3, 5, 0, tzinfo=UTC)) == "55s"
    assert age_text(stamp, datetime(2026, 1, 1, tzinfo=UTC)) == "just now"
