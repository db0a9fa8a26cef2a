"""Verifying a session's chain, alone and against its anchors. Pure logic, no I/O.

`first_bad_seq` is the first chain_seq the verifier cannot vouch for:

* an entry that fails its own checks (wrong seq, broken prev_hash link, hash
  that does not match its contents, record of another session or type) is
  bad at its seq; a gap or a repeated seq is bad at the smaller of the
  expected and the found seq;
* an anchor whose head hash differs from the chain's hash at that seq, while
  every entry up to it checks out, means entries were rewritten with
  recomputed hashes somewhere after the previous matching anchor: bad at that
  anchor's seq + 1 (or the trusted seq + 1 in incremental mode) - the first
  entry no intact anchor covers. Where the chain itself fails at or before the
  anchor, the chain's finding is the more precise and wins;
* an anchor beyond the end of the chain means the tail was removed: bad at
  length + 1;
* an anchor object that is forged, forked (two different anchors for one seq)
  or unlinked is bad at its seq (capped at length + 1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit_svc._pagecheck import count_passing
from audit_svc.anchor_documents import AnchorInvalid, Checkpoint, parse_anchor
from audit_svc.chain import ENTRY_TAG, entry_hash, genesis_hash, read_record


class ChainEntry(NamedTuple):
    """One stored row, as the verifier sees it (a tuple: rows arrive by the
    ten thousand and are built straight from the database's records). The
    row's created_at column is not read: when a time is needed, it comes from
    the hashed record."""

    chain_seq: int
    event_type: str
    record: bytes
    prev_hash: bytes
    hash: bytes


Row = Sequence[Any]  # a ChainEntry, or a database record with the same five columns in the same order

_TYPE_KEY = b',"event_type":"'
_TYPE_END = b'","payload":'


@dataclass(frozen=True)
class Trusted:
    """Incremental verification: the caller already trusts the chain up to here."""

    chain_seq: int
    hash: bytes


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    length: int
    head_hash: bytes
    first_bad_seq: int
    anchors_checked: int
    unanchored_entries: int
    unanchored_seconds: float
    problem: str


@dataclass(frozen=True)
class AnchorSet:
    """The consistent anchors of a session, and the first problem found among the objects."""

    checkpoints: dict[int, Checkpoint]
    problem: str = ""
    problem_seq: int = 0


def check_anchor_objects(
    session_id: str, bodies: Iterable[bytes], public_keys: dict[str, Ed25519PublicKey]
) -> AnchorSet:
    """Signature, session, uniqueness per seq and linkage of a session's anchor objects."""
    by_seq: dict[int, Checkpoint] = {}
    problems: list[tuple[int, str]] = []
    for body in bodies:
        try:
            checkpoint = parse_anchor(body, public_keys)
        except AnchorInvalid as exc:
            problems.append((exc.chain_seq or 1, str(exc)))
            continue
        if checkpoint.session_id != session_id:
            problems.append((checkpoint.chain_seq, f"anchor at seq {checkpoint.chain_seq} names another session"))
            continue
        seen = by_seq.get(checkpoint.chain_seq)
        if seen is not None and seen != checkpoint:
            problems.append((checkpoint.chain_seq, f"two different anchors claim seq {checkpoint.chain_seq} (fork)"))
            continue
        by_seq[checkpoint.chain_seq] = checkpoint
    previous = b""
    for seq in sorted(by_seq):
        checkpoint = by_seq[seq]
        if checkpoint.prev_anchor_hash != previous:
            problems.append((seq, f"anchor at seq {seq} does not link to the anchor before it"))
            break
        previous = checkpoint.anchor_hash
    if not problems:
        return AnchorSet(checkpoints=by_seq)
    seq, problem = min(problems)
    return AnchorSet(checkpoints={s: c for s, c in by_seq.items() if s < seq}, problem=problem, problem_seq=seq)


class ChainVerifier:
    """Feed a session's entries in chain_seq order (in batches), then read `result()`."""

    def __init__(self, session_id: str, anchors: AnchorSet, now: datetime, trusted: Trusted | None = None):
        self._session_id = session_id
        self._anchors = anchors
        self._now = now
        self._trusted = trusted
        self._session_suffix = b',"session_id":"' + session_id.encode() + b'"}'
        self._expected = trusted.chain_seq + 1 if trusted else 1
        self._prev = trusted.hash if trusted else genesis_hash(session_id)
        self._vouched = trusted.chain_seq if trusted else 0
        self._length = 0
        self._head = b""
        self._started = False
        self._first_created_at: datetime | None = None
        self._anchors_checked = 0
        self._bad = 0
        self._problem = ""
        self._saw_trusted = trusted is None or trusted.chain_seq == 0

    def _fail(self, seq: int, problem: str) -> None:
        self._bad, self._problem = seq, problem

    @staticmethod
    def _type_matches(event_type: str, record: bytes) -> bool:
        # Records are canonical (keys sorted: actor, created_at, event_type,
        # ...) and strings cannot hold a bare quote, so the first `,"event_type":"`
        # is the top-level key - a payload that spells one out comes later.
        return record.startswith(_TYPE_KEY + event_type.encode() + _TYPE_END, record.find(_TYPE_KEY))

    def feed(self, rows: Sequence[Row]) -> None:
        """Check the next rows (ChainEntry tuples, or database records with the same columns)."""
        rows = rows if isinstance(rows, list) else list(rows)
        start = 0
        while start < len(rows) and not self._bad and not self._routine():
            self._walk(rows[start : start + 1])  # the first entry, or the trusted one
            start += 1
        rest = rows[start:] if start else rows
        taken = self._take_intact(rest) if rest and self._routine() else 0
        if taken < len(rest):
            self._walk(rest[taken:])

    def _take_intact(self, rows: list[Row]) -> int:
        """The hot path: take the leading entries that pass every per-entry
        check (counted in C, audit_svc/_pagecheck.c) and every anchor among
        them; return how many were taken. The rest is left to `_walk`, which
        names the exact fault."""
        first = self._expected
        count = count_passing(rows, first, self._prev, ENTRY_TAG, self._session_suffix, _TYPE_KEY, _TYPE_END)
        vouched, checked, checkpoints = self._vouched, self._anchors_checked, self._anchors.checkpoints
        for seq in sorted(s for s in checkpoints if first <= s < first + count and s > vouched):
            if checkpoints[seq].head_hash != rows[seq - first][4]:
                count = seq - first  # the walker reports the rewritten stretch
                break
            vouched, checked = seq, checked + 1
        if count:
            head = rows[count - 1][4]
            self._vouched, self._anchors_checked = vouched, checked
            self._expected, self._prev, self._head = first + count, head, head
            self._length = max(self._length, first + count - 1)
        return count

    def _walk(self, rows: Sequence[Row]) -> None:
        # Entry by entry: finds the exact first bad entry, and handles the
        # start of a chain; an entry that passes costs one hash and a few
        # compares, anything unusual takes the careful path.
        sha256, join, tag = hashlib.sha256, b"".join, ENTRY_TAG
        anchors, suffix = self._anchors.checkpoints, self._session_suffix
        expected, prev = self._expected, self._prev
        routine = self._routine()
        for row in rows:
            seq, event_type, record, prev_hash, digest = row
            if (
                not routine
                or seq != expected
                or prev_hash != prev
                or sha256(join((tag, prev, seq.to_bytes(8, "big"), record))).digest() != digest
                or not record.endswith(suffix)
                or not self._type_matches(event_type, record)
                or seq in anchors
            ):
                self._expected, self._prev = expected, prev
                self._careful(ChainEntry._make(row))
                expected, prev = self._expected, self._prev
                routine = self._routine()
                continue
            prev, expected = digest, seq + 1
        self._expected, self._prev = expected, prev
        if rows:
            self._length = max(self._length, expected - 1, rows[-1][0])
            self._head = rows[-1][4]

    def _routine(self) -> bool:
        """Whether the next entry may take the fast path (nothing found yet, past the start)."""
        return not self._bad and self._saw_trusted and self._started

    def _careful(self, entry: ChainEntry) -> None:
        self._length = max(self._length, entry.chain_seq)
        if self._bad:
            return  # keep counting the length; the verdict is in
        if not self._saw_trusted:
            self._check_trusted(entry)
            return
        if not self._started:
            self._started = True
            self._first_created_at = _record_time(entry.record)
        self._check(entry)

    def _check_trusted(self, entry: ChainEntry) -> None:
        assert self._trusted is not None
        self._saw_trusted = True
        if entry.chain_seq != self._trusted.chain_seq or entry.hash != self._trusted.hash:
            self._fail(self._trusted.chain_seq, f"entry {self._trusted.chain_seq} no longer has the trusted hash")

    def _check(self, entry: ChainEntry) -> None:
        seq = entry.chain_seq
        if seq != self._expected:
            kind = "is missing" if seq > self._expected else "appears twice or out of order"
            self._fail(min(seq, self._expected), f"chain_seq {min(seq, self._expected)} {kind}")
            return
        if entry.prev_hash != self._prev:
            self._fail(seq, f"entry {seq}: prev_hash does not link to entry {seq - 1}")
            return
        if entry_hash(entry.prev_hash, seq, entry.record) != entry.hash:
            self._fail(seq, f"entry {seq}: hash does not match its contents")
            return
        if not entry.record.endswith(self._session_suffix):
            self._fail(seq, f"entry {seq}: record belongs to another session")
            return
        if not self._type_matches(entry.event_type, entry.record):
            self._fail(seq, f"entry {seq}: event_type column differs from the record")
            return
        anchor = self._anchors.checkpoints.get(seq)
        if anchor is not None and seq > self._vouched:
            self._anchors_checked += 1
            if anchor.head_hash != entry.hash:
                self._fail(
                    self._vouched + 1,
                    f"anchor at seq {seq} covers a different head: entries after {self._vouched} were rewritten",
                )
                return
            self._vouched = seq
        self._prev = entry.hash
        self._expected = seq + 1

    def result(self) -> VerifyResult:
        bad, problem = self._bad, self._problem
        if not bad and not self._saw_trusted:
            assert self._trusted is not None
            bad, problem = self._trusted.chain_seq, f"entry {self._trusted.chain_seq} (trusted) is missing"
        beyond = [seq for seq in self._anchors.checkpoints if seq > self._length]
        if not bad and beyond:
            self._anchors_checked += 1
            bad = self._length + 1
            problem = f"anchor at seq {min(beyond)} is beyond the chain's end ({self._length}): the tail was removed"
        if self._anchors.problem_seq and (not bad or self._anchors.problem_seq < bad):
            bad = min(self._anchors.problem_seq, self._length + 1)
            problem = self._anchors.problem
        anchored = [c for c in self._anchors.checkpoints.values() if c.chain_seq <= self._length]
        newest = max(anchored, key=lambda c: c.chain_seq, default=None)
        unanchored = self._length - (newest.chain_seq if newest else 0)
        since = newest.created_at if newest else self._first_created_at
        seconds = max(0.0, (self._now - since).total_seconds()) if unanchored and since else 0.0
        return VerifyResult(
            ok=not bad,
            length=self._length,
            head_hash=self._head,
            first_bad_seq=bad,
            anchors_checked=self._anchors_checked,
            unanchored_entries=unanchored,
            unanchored_seconds=seconds,
            problem=problem,
        )


def _record_time(record: bytes) -> datetime | None:
    """When the record says it was written (None for a record that is not one of ours)."""
    view = read_record(record)
    try:
        return datetime.fromisoformat(view.created_at) if view else None
    except ValueError:
        return None
