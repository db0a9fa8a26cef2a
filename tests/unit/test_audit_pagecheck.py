"""The verifier's C hot path (audit_svc/_pagecheck.c), check by check.

Each case breaks exactly one per-entry check (rehashing where the hash would
otherwise give it away) and asserts the page stops at that entry. Whole-chain
agreement with the entry-by-entry walker is held by the property test in
test_audit_verify.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from audit_svc._pagecheck import count_passing
from audit_svc.chain import ENTRY_TAG, entry_hash, genesis_hash
from audit_svc.verify import ChainEntry, ChainVerifier, check_anchor_objects
from tests.unit.test_audit_verify import KEYS, NOW, SESSION, build_chain

SUFFIX = b',"session_id":"' + SESSION.encode() + b'"}'
TYPE_KEY, TYPE_END = b',"event_type":"', b'","payload":'
BAD_AT = 4  # 1-based seq of the entry each case breaks


def passing(rows: list[Any], first: int = 1, prev: bytes | None = None) -> int:
    prev = genesis_hash(SESSION) if prev is None else prev
    return count_passing(rows, first, prev, ENTRY_TAG, SUFFIX, TYPE_KEY, TYPE_END)


def rehashed(entry: ChainEntry, **changes: Any) -> ChainEntry:
    entry = entry._replace(**changes)
    return entry._replace(hash=entry_hash(entry.prev_hash, entry.chain_seq, entry.record))


def mistyped(entry: ChainEntry, **columns: Any) -> ChainEntry:
    """The entry with columns of the wrong type, as a driver might hand them over: the C checks refuse them."""
    return entry._replace(**columns)


def test_an_intact_chain_passes_whole() -> None:
    chain = build_chain(30)
    assert passing(chain) == 30
    assert passing(chain[10:], first=11, prev=chain[9].hash) == 20
    assert passing([]) == 0


def test_the_start_must_match_the_caller_s_position() -> None:
    chain = build_chain(5)
    assert passing(chain, first=2) == 0
    assert passing(chain, prev=bytes(32)) == 0


OTHER_SESSION = str(uuid.UUID(int=7)).encode()
CASES: dict[str, Callable[[ChainEntry], Sequence[Any]]] = {
    "seq": lambda e: rehashed(e, chain_seq=e.chain_seq + 1),
    "prev_hash": lambda e: rehashed(e, prev_hash=bytes(32)),
    "hash": lambda e: e._replace(hash=bytes(32)),
    "record": lambda e: e._replace(record=e.record.replace(b'"n":', b'"m":')),
    "session": lambda e: rehashed(e, record=e.record.replace(SESSION.encode(), OTHER_SESSION)),
    "event_type column": lambda e: e._replace(event_type="SYSCALL_DENIED"),
    "event_type column of the same length": lambda e: e._replace(event_type="SYSCALL_REFUSED"),
    "event_type column a prefix of the record's": lambda e: e._replace(event_type="SYSCALL_ALLOW"),
    "event_type column longer than the record's": lambda e: e._replace(event_type="SYSCALL_ALLOWED_"),
    "record without an event_type": lambda e: rehashed(e, record=e.record.replace(TYPE_KEY, b',"event_kind":"')),
    "record cut short": lambda e: rehashed(e, record=e.record[: e.record.index(TYPE_KEY) + len(TYPE_KEY) + 3]),
    "short hash": lambda e: e._replace(hash=e.hash[:31]),
    "short prev_hash": lambda e: rehashed(e, prev_hash=e.prev_hash[:31]),
    "hash with a byte too many": lambda e: e._replace(hash=e.hash + b"\x00"),
    "prev_hash with a byte too many": lambda e: e._replace(prev_hash=e.prev_hash + b"\x00"),
    "record not bytes": lambda e: mistyped(e, record=bytearray(e.record)),
    "hash not bytes": lambda e: mistyped(e, hash=memoryview(e.hash)),
    "seq not an int": lambda e: mistyped(e, chain_seq=float(e.chain_seq)),
    "seq beyond 64 bits": lambda e: e._replace(chain_seq=2**70),
    "event_type not text": lambda e: mistyped(e, event_type=e.event_type.encode()),
    "event_type not valid text": lambda e: e._replace(event_type="\udcff"),
    "row too short": lambda e: tuple(e)[:4],
}


@pytest.mark.parametrize("case", CASES)
def test_the_page_stops_at_the_entry_that_fails_one_check(case: str) -> None:
    chain = build_chain(8)
    rows: list[Sequence[Any]] = list(chain)
    rows[BAD_AT - 1] = CASES[case](chain[BAD_AT - 1])
    assert passing(rows) == BAD_AT - 1


def test_a_payload_that_spells_out_the_column_does_not_vouch_for_it() -> None:
    chain = build_chain(8)
    entry = chain[BAD_AT - 1]
    spelled = entry.record.replace(b'{"n":', b'{"a":"x' + TYPE_KEY[1:] + b'SYSCALL_DENIED' + TYPE_END + b'1,"n":')
    chain[BAD_AT - 1] = rehashed(entry, record=spelled, event_type="SYSCALL_DENIED")
    assert passing(chain) == BAD_AT - 1


def test_rows_may_be_any_sequence_with_the_five_columns() -> None:
    chain = [[*entry, "ignored"] for entry in build_chain(6)]
    assert passing(chain) == 6


def test_bad_arguments_are_refused() -> None:
    chain = build_chain(3)
    with pytest.raises(ValueError, match="32 bytes"):
        passing(chain, prev=b"short")
    not_a_list: Any = tuple(chain)
    with pytest.raises(TypeError):
        passing(not_a_list)
    with pytest.raises(ValueError, match="type_key"):
        count_passing(chain, 1, genesis_hash(SESSION), ENTRY_TAG, SUFFIX, b"", TYPE_END)


def test_the_verifier_walks_only_the_first_entry_of_an_intact_chain(walked_rows: list[int]) -> None:
    verifier = ChainVerifier(SESSION, check_anchor_objects(SESSION, [], KEYS), NOW)
    chain = build_chain(50)
    for start in range(0, 50, 7):
        verifier.feed(chain[start : start + 7])
    assert verifier.result().ok and sum(walked_rows) == 1
