"""The verifier's anchor checks and incremental mode, on in-memory chains.

(Tampering with rows in PostgreSQL is covered by the mutation catalogue in
tests/integration/test_audit_mutations.py.)
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import example, given, settings
from hypothesis import strategies as st

from audit_svc.anchor_documents import AnchorSigner, Checkpoint
from audit_svc.chain import Actor, entry_hash, genesis_hash, new_event
from audit_svc.verify import ChainEntry, ChainVerifier, Trusted, VerifyResult, check_anchor_objects

SESSION = str(uuid.UUID(int=42))
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SIGNER = AnchorSigner(Ed25519PrivateKey.generate())
KEYS = {SIGNER.key_id: SIGNER.public_key}


def build_chain(length: int, session: str = SESSION) -> list[ChainEntry]:
    entries, prev = [], genesis_hash(session)
    for seq in range(1, length + 1):
        event = new_event(session, "SYSCALL_ALLOWED", Actor("kernel"), f'{{"n": {seq}}}', NOW)
        digest = entry_hash(prev, seq, event.record)
        entries.append(ChainEntry(seq, event.event_type, event.record, prev, digest))
        prev = digest
    return entries


def anchor_bodies(chain: list[ChainEntry], seqs: list[int], signer: AnchorSigner = SIGNER) -> list[bytes]:
    bodies, prev = [], b""
    for seq in seqs:
        checkpoint = Checkpoint(SESSION, seq, chain[seq - 1].hash, prev, NOW - timedelta(seconds=30), signer.key_id)
        bodies.append(signer.sign(checkpoint))
        prev = checkpoint.anchor_hash
    return bodies


def run(chain: list[ChainEntry], bodies: list[bytes], trusted: Trusted | None = None,
        keys: dict | None = None) -> VerifyResult:
    verifier = ChainVerifier(SESSION, check_anchor_objects(SESSION, bodies, keys or KEYS), NOW, trusted)
    after = trusted.chain_seq - 1 if trusted else 0
    verifier.feed(chain[after:])
    return verifier.result()


def test_intact_chain_with_anchors() -> None:
    chain = build_chain(30)
    result = run(chain, anchor_bodies(chain, [10, 20]))
    assert result.ok and result.length == 30 and result.head_hash == chain[-1].hash
    assert result.anchors_checked == 2
    assert result.unanchored_entries == 10 and result.unanchored_seconds == pytest.approx(30)


def test_empty_chain_is_ok_and_zero_length() -> None:
    result = run([], [])
    assert result.ok and result.length == 0 and result.first_bad_seq == 0


def test_anchor_signed_by_another_key_is_refused() -> None:
    chain = build_chain(30)
    bodies = anchor_bodies(chain, [10]) + anchor_bodies(chain, [20], AnchorSigner(Ed25519PrivateKey.generate()))
    result = run(chain, bodies)
    assert not result.ok and result.first_bad_seq == 20 and "unknown key" in result.problem


def test_anchor_with_a_broken_signature_is_refused() -> None:
    chain = build_chain(30)
    (body,) = anchor_bodies(chain, [10])
    forged = body.replace(chain[9].hash.hex().encode(), chain[8].hash.hex().encode())
    result = run(chain, [forged])
    assert not result.ok and result.first_bad_seq == 10 and "signature" in result.problem


def test_two_different_anchors_for_one_seq_are_a_fork() -> None:
    chain = build_chain(30)
    bodies = anchor_bodies(chain, [10, 20])
    other = Checkpoint(SESSION, 20, chain[19].hash, b"\x01" * 32, NOW, SIGNER.key_id)
    result = run(chain, [*bodies, SIGNER.sign(other)])
    assert not result.ok and result.first_bad_seq == 20 and "fork" in result.problem


def test_the_same_anchor_stored_twice_is_not_a_fork() -> None:
    chain = build_chain(30)
    bodies = anchor_bodies(chain, [10, 20])
    assert run(chain, [*bodies, bodies[1]]).ok


def test_an_unlinked_anchor_is_refused() -> None:
    chain = build_chain(30)
    first, _ = anchor_bodies(chain, [10, 20])
    stray = SIGNER.sign(Checkpoint(SESSION, 20, chain[19].hash, b"", NOW, SIGNER.key_id))  # links to nothing
    result = run(chain, [first, stray])
    assert not result.ok and result.first_bad_seq == 20 and "link" in result.problem


def test_a_missing_anchor_breaks_the_anchor_chain() -> None:
    chain = build_chain(30)
    _, second, third = anchor_bodies(chain, [10, 20, 30])
    result = run(chain, [second, third])
    assert not result.ok and result.first_bad_seq == 20


def test_an_anchor_of_another_session_is_refused() -> None:
    chain = build_chain(30)
    other = SIGNER.sign(Checkpoint(str(uuid.uuid4()), 10, chain[9].hash, b"", NOW, SIGNER.key_id))
    result = run(chain, [other])
    assert not result.ok and "another session" in result.problem


def test_garbage_in_the_store_is_refused() -> None:
    result = run(build_chain(5), [b"not json"])
    assert not result.ok and result.first_bad_seq == 1


def test_truncated_tail_is_caught_by_an_anchor_beyond_the_end() -> None:
    chain = build_chain(30)
    result = run(chain[:17], anchor_bodies(chain, [10, 20]))
    assert not result.ok and result.first_bad_seq == 18 and "tail" in result.problem


def test_event_type_column_must_match_the_record() -> None:
    chain = build_chain(10)
    chain[4] = chain[4]._replace(event_type="SYSCALL_DENIED")
    result = run(chain, [])
    assert not result.ok and result.first_bad_seq == 5 and "event_type" in result.problem


def test_a_record_of_another_session_is_refused_even_when_rehashed() -> None:
    chain = build_chain(10)
    foreign = build_chain(10, session=str(uuid.uuid4()))[4]
    prev = chain[3].hash
    chain[4] = foreign._replace(prev_hash=prev, hash=entry_hash(prev, 5, foreign.record))
    result = run(chain, [])
    assert not result.ok and result.first_bad_seq == 5 and "another session" in result.problem


def test_incremental_checks_only_after_the_trusted_point() -> None:
    chain = build_chain(30)
    bodies = anchor_bodies(chain, [10, 20])
    result = run(chain, bodies, Trusted(15, chain[14].hash))
    assert result.ok and result.length == 30 and result.anchors_checked == 1
    wrong = run(chain, bodies, Trusted(15, chain[13].hash))
    assert not wrong.ok and wrong.first_bad_seq == 15


def test_incremental_rewrite_after_the_trusted_point_is_bounded_by_it() -> None:
    chain = build_chain(30)
    bodies = anchor_bodies(chain, [10, 25])
    rewritten, prev = list(chain[:17]), chain[16].hash
    for entry in chain[17:]:
        digest = entry_hash(prev, entry.chain_seq, entry.record.replace(b'"n":', b'"N":'))
        rewritten.append(entry._replace(record=entry.record.replace(b'"n":', b'"N":'),
                                             prev_hash=prev, hash=digest))
        prev = digest
    assert run(rewritten, bodies).first_bad_seq == 11  # first entry no intact anchor covers
    assert run(rewritten, bodies, Trusted(15, chain[14].hash)).first_bad_seq == 16


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40), st.integers(0, 31), st.sampled_from(["record", "prev_hash", "hash"]))
def test_any_bit_flip_anywhere_is_found_where_it_is(seq: int, bit: int, column: str) -> None:
    chain = build_chain(40)
    entry = chain[seq - 1]
    data = bytearray(getattr(entry, column))
    data[bit % len(data)] ^= 1 << (bit % 8)
    changed: dict[str, Any] = {column: bytes(data)}
    chain[seq - 1] = entry._replace(**changed)
    result = run(chain, anchor_bodies(build_chain(40), [20, 40]))
    assert not result.ok and result.first_bad_seq == seq


def test_a_payload_that_spells_out_another_event_type_does_not_vouch_for_the_column() -> None:
    prev = genesis_hash(SESSION)
    event = new_event(SESSION, "SYSCALL_ALLOWED", Actor("kernel"),
                      '{"a": 1, "event_type": "SYSCALL_DENIED", "payload": 2}', NOW)
    assert b',"event_type":"SYSCALL_DENIED","payload":' in event.record
    entry = ChainEntry(1, "SYSCALL_DENIED", event.record, prev, entry_hash(prev, 1, event.record))
    result = run([entry], [])
    assert not result.ok and result.first_bad_seq == 1 and "event_type" in result.problem


MUTATIONS = ["record", "prev_hash", "hash", "seq+1", "seq-1", "swap", "delete", "duplicate", "event_type", "session"]


def mutate(chain: list[ChainEntry], kind: str, at: int) -> list[ChainEntry]:
    chain, i = list(chain), at - 1
    entry = chain[i]
    if kind == "record":
        chain[i] = entry._replace(record=entry.record.replace(b'"n":', b'"m":'))  # the payload only
    elif kind in ("prev_hash", "hash"):
        data = bytearray(getattr(entry, kind))
        data[len(data) // 2] ^= 0x10
        changed: dict[str, Any] = {kind: bytes(data)}
        chain[i] = entry._replace(**changed)
    elif kind in ("seq+1", "seq-1"):
        chain[i] = entry._replace(chain_seq=entry.chain_seq + (1 if kind == "seq+1" else -1))
    elif kind == "swap" and i + 1 < len(chain):
        chain[i], chain[i + 1] = chain[i + 1], chain[i]
    elif kind == "delete":
        del chain[i]
    elif kind == "duplicate":
        chain.insert(i, entry)
    elif kind == "event_type":
        chain[i] = entry._replace(event_type="SYSCALL_DENIED")
    elif kind == "session":
        chain[i] = entry._replace(record=entry.record.replace(SESSION.encode(), str(uuid.UUID(int=7)).encode()))
    return chain


def rehash(chain: list[ChainEntry], start: int, through: int) -> list[ChainEntry]:
    """Recompute hashes of entries start..through (0-based) as a forger with write access would."""
    chain = list(chain)
    for i in range(start, min(through, len(chain) - 1) + 1):
        entry = chain[i]
        prev = entry.prev_hash if i == start else chain[i - 1].hash
        chain[i] = entry._replace(prev_hash=prev, hash=entry_hash(prev, entry.chain_seq, entry.record))
    return chain


@settings(max_examples=400, deadline=None)
@example("record", 60, 1, False, "entry")  # the last entry rewritten and rehashed: only an anchor could tell
@example("record", 20, 25, True, "suffix")  # a rewritten suffix under an anchor, in a batch holding the anchor
@given(st.sampled_from(MUTATIONS), st.integers(1, 60), st.integers(1, 25), st.booleans(),
       st.sampled_from(["none", "entry", "suffix"]))
def test_batch_path_and_entry_by_entry_path_agree(kind: str, at: int, batch: int, anchored: bool,
                                                  rehashed: str) -> None:
    """The batch fast path must never vouch for what the careful per-entry path refuses.
    Rehashing the mutated entry (or the whole suffix) leaves only the one check
    aimed at that mutation to catch it."""
    chain = build_chain(60)
    bodies = anchor_bodies(chain, [15, 30, 45]) if anchored else []
    tampered = mutate(chain, kind, at)
    if rehashed != "none":
        tampered = rehash(tampered, at - 1, at - 1 if rehashed == "entry" else len(tampered))
    anchors = check_anchor_objects(SESSION, bodies, KEYS)
    reference = ChainVerifier(SESSION, anchors, NOW)
    reference._walk(tampered)  # the entry-by-entry path alone
    batched = ChainVerifier(SESSION, anchors, NOW)
    for start in range(0, len(tampered), batch):
        batched.feed(tampered[start : start + batch])
    assert batched.result() == reference.result()
    # A rehash undoes a hash flip. A rewritten record whose hashes were redone to the end of
    # the chain (a whole suffix, or only the last entry) can only be caught by an anchor.
    rewrote_to_the_end = rehashed == "suffix" or (rehashed == "entry" and at == 60)
    silent = (kind == "hash" and rehashed != "none") or (
        kind == "record" and rewrote_to_the_end and (not anchored or at > 45))
    if not silent and not (kind in ("delete", "swap") and at == 60):
        assert not batched.result().ok, (kind, at, batch, anchored, rehashed)


def test_with_no_anchor_the_unanchored_window_starts_at_the_first_records_time() -> None:
    chain = build_chain(5)  # records written at NOW
    verifier = ChainVerifier(SESSION, check_anchor_objects(SESSION, [], KEYS), NOW + timedelta(seconds=42))
    verifier.feed(chain)
    result = verifier.result()
    assert result.ok and result.unanchored_entries == 5 and result.unanchored_seconds == pytest.approx(42)
