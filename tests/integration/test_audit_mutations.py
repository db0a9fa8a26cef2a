"""The mutation catalogue: a superuser tampers with a real chain in PostgreSQL
(triggers and constraints out of the way, as an attacker with full write
access would), and verification against the anchor store must notice, at the
right first_bad_seq, every mutation at or before the last anchor.

Each trial runs in a transaction that is rolled back, so every mutation meets
the same pristine chain. The expected first_bad_seq follows the definition in
audit_svc/verify.py.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aos_common.canonical import canonical_json
from audit_svc.anchor_documents import AnchorSigner
from audit_svc.anchor_store import LocalAnchorStore
from audit_svc.anchorer import Anchorer
from audit_svc.chain import Actor, entry_hash, genesis_hash, new_event
from audit_svc.store import AuditStore, stream_rows
from audit_svc.verify import ChainVerifier, VerifyResult, check_anchor_objects
from tests.conftest import TestDatabase

LENGTH = 120
ANCHOR_EVERY = 15
ANCHORS = list(range(ANCHOR_EVERY, LENGTH - ANCHOR_EVERY + 1, ANCHOR_EVERY))  # 15 .. 105
LAST_ANCHOR = ANCHORS[-1]
POSITIONS_PER_MUTATION = 30
WHERE = "WHERE session_id = $1 AND chain_seq = $2"


@dataclass
class Chain:
    session_id: str
    signer: AnchorSigner
    anchors: LocalAnchorStore
    admin_dsn: str

    async def verify(self, conn: asyncpg.Connection) -> VerifyResult:
        anchors = check_anchor_objects(
            self.session_id,
            await self.anchors.list_session(self.session_id),
            {self.signer.key_id: self.signer.public_key},
        )
        verifier = ChainVerifier(self.session_id, anchors, datetime.now(UTC))
        async for batch in stream_rows(conn, self.session_id):
            verifier.feed(batch)
        return verifier.result()


@pytest.fixture(scope="module")
async def chain(db: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Chain:
    session = str(uuid.uuid4())
    signer = AnchorSigner(Ed25519PrivateKey.generate())
    anchors = LocalAnchorStore(tmp_path_factory.mktemp("anchors"))
    store = await AuditStore.open(db.dsn("audit"))
    anchorer = Anchorer(store, anchors, signer, every_events=ANCHOR_EVERY, every_seconds=3600)
    actor = Actor("policy", "operator@test", "jti-1")
    try:
        for n in range(1, LENGTH + 1):
            payload = canonical_json({"tool": "fs.read_file", "args": {"path": f"notes/{n}.txt"}}).decode()
            await store.append(new_event(session, "SYSCALL_ALLOWED", actor, payload, datetime.now(UTC)))
            if n in ANCHORS:
                anchorer.note_append(session)
                await anchorer.run_once(flush=True)
        assert anchorer.stats().successes == len(ANCHORS)
    finally:
        await store.close()
    return Chain(session, signer, anchors, db.admin_dsn)


def _flip(data: bytes, rng: random.Random, start: int = 0, end: int | None = None) -> bytes:
    end = len(data) if end is None else end
    index = rng.randrange(start, end)
    return data[:index] + bytes([data[index] ^ (1 << rng.randrange(8))]) + data[index + 1 :]


async def _row(conn: asyncpg.Connection, session: uuid.UUID, seq: int) -> asyncpg.Record:
    row = await conn.fetchrow(f"SELECT * FROM audit.audit_events {WHERE}", session, seq)
    assert row is not None
    return row


async def _renumber(conn: asyncpg.Connection, session: uuid.UUID, mapping: dict[int, int]) -> None:
    """Relabel rows in one statement (the primary key is already dropped)."""
    await conn.execute(
        "UPDATE audit.audit_events e SET chain_seq = m.new FROM unnest($2::int[], $3::int[]) AS m(old, new)"
        " WHERE e.session_id = $1 AND e.chain_seq = m.old",
        session,
        list(mapping),
        list(mapping.values()),
    )


def _anchor_below(seq: int) -> int:
    return max((a for a in ANCHORS if a < seq), default=0)


Mutation = Callable[[asyncpg.Connection, uuid.UUID, random.Random], Awaitable[int]]


async def record_flip(conn, session, rng) -> int:
    k = rng.randint(1, LAST_ANCHOR)
    row = await _row(conn, session, k)
    await conn.execute(f"UPDATE audit.audit_events SET record = $3 {WHERE}", session, k, _flip(row["record"], rng))
    return k


async def payload_flip(conn, session, rng) -> int:
    k = rng.randint(1, LAST_ANCHOR)
    record = (await _row(conn, session, k))["record"]
    start = record.index(b'"payload":') + len(b'"payload":')
    end = record.index(b',"session_id":')
    await conn.execute(
        f"UPDATE audit.audit_events SET record = $3 {WHERE}", session, k, _flip(record, rng, start, end)
    )
    return k


async def prev_hash_flip(conn, session, rng) -> int:
    k = rng.randint(1, LAST_ANCHOR)
    row = await _row(conn, session, k)
    await conn.execute(
        f"UPDATE audit.audit_events SET prev_hash = $3 {WHERE}", session, k, _flip(row["prev_hash"], rng)
    )
    return k


async def hash_flip(conn, session, rng) -> int:
    k = rng.randint(1, LAST_ANCHOR)
    row = await _row(conn, session, k)
    await conn.execute(f"UPDATE audit.audit_events SET hash = $3 {WHERE}", session, k, _flip(row["hash"], rng))
    return k


async def seq_plus_one(conn, session, rng) -> int:
    k = rng.randint(1, LAST_ANCHOR)
    await _renumber(conn, session, {k: k + 1})
    return k


async def seq_minus_one(conn, session, rng) -> int:
    k = rng.randint(2, LAST_ANCHOR)
    await _renumber(conn, session, {k: k - 1})
    return k - 1  # seq k-1 now appears twice


async def seq_swapped(conn, session, rng) -> int:
    k = rng.randint(1, LAST_ANCHOR)
    j = rng.randint(k + 1, LENGTH)
    await _renumber(conn, session, {k: j, j: k})
    return k


async def row_deleted(conn, session, rng) -> int:
    k = rng.randint(1, LAST_ANCHOR)
    await conn.execute(f"DELETE FROM audit.audit_events {WHERE}", session, k)
    return k


async def row_inserted(conn, session, rng) -> int:
    """A forged row, correctly linked to its predecessor and correctly hashed,
    pushed in at k. It is self-consistent, so the chain can only fault the
    displaced original at k+1 - unless k is itself an anchored seq."""
    k = rng.randint(1, LAST_ANCHOR)
    await _renumber(conn, session, {seq: seq + 1 for seq in range(k, LENGTH + 1)})
    prev = genesis_hash(str(session)) if k == 1 else (await _row(conn, session, k - 1))["hash"]
    forged = new_event(str(session), "SYSCALL_ALLOWED", Actor("policy"), '{"forged": true}', datetime.now(UTC))
    await conn.execute(
        "INSERT INTO audit.audit_events VALUES ($1, $2, $3, $4, $5, $6, now())",
        session, k, forged.event_type, forged.record, prev, entry_hash(prev, k, forged.record),
    )  # fmt: skip
    return _anchor_below(k) + 1 if k in ANCHORS else k + 1


async def row_moved(conn, session, rng) -> int:
    k = rng.randint(1, LAST_ANCHOR)
    j = rng.randint(k + 1, min(LENGTH, k + 10))
    mapping = {seq: seq - 1 for seq in range(k + 1, j + 1)}
    mapping[k] = j
    await _renumber(conn, session, mapping)
    return k


async def tail_truncated(conn, session, rng) -> int:
    t = rng.randint(0, LAST_ANCHOR - 1)
    await conn.execute("DELETE FROM audit.audit_events WHERE session_id = $1 AND chain_seq > $2", session, t)
    return t + 1


async def suffix_rewritten(conn, session, rng) -> int:
    """Change one record and recompute every hash after it: the chain alone
    is consistent again; only an anchor past k can tell."""
    k = rng.randint(1, LAST_ANCHOR)
    rows = await conn.fetch(
        "SELECT chain_seq, record, prev_hash FROM audit.audit_events WHERE session_id = $1 AND chain_seq >= $2"
        " ORDER BY chain_seq",
        session,
        k,
    )
    prev = rows[0]["prev_hash"]
    updates = []
    for row in rows:
        record = row["record"]
        if row["chain_seq"] == k:
            record = record.replace(b"notes/", b"nOtes/", 1)
        digest = entry_hash(prev, row["chain_seq"], record)
        updates.append((session, row["chain_seq"], record, prev, digest))
        prev = digest
    await conn.executemany(
        f"UPDATE audit.audit_events SET record = $3, prev_hash = $4, hash = $5 {WHERE}", updates
    )
    return _anchor_below(k) + 1


CATALOGUE: dict[str, Mutation] = {
    fn.__name__: fn
    for fn in (
        record_flip, payload_flip, prev_hash_flip, hash_flip, seq_plus_one, seq_minus_one, seq_swapped,
        row_deleted, row_inserted, row_moved, tail_truncated, suffix_rewritten,
    )
}  # fmt: skip


async def _tampered(chain: Chain, mutate: Mutation, rng: random.Random) -> tuple[int, VerifyResult]:
    conn = await asyncpg.connect(chain.admin_dsn)
    try:
        transaction = conn.transaction()
        await transaction.start()
        try:
            await conn.execute("SET LOCAL session_replication_role = replica")  # triggers off
            await conn.execute("ALTER TABLE audit.audit_events DROP CONSTRAINT audit_events_pkey")
            expected = await mutate(conn, uuid.UUID(chain.session_id), rng)
            return expected, await chain.verify(conn)
        finally:
            await transaction.rollback()
    finally:
        await conn.close()


async def test_the_untouched_chain_verifies(chain: Chain) -> None:
    conn = await asyncpg.connect(chain.admin_dsn)
    try:
        result = await chain.verify(conn)
    finally:
        await conn.close()
    assert result.ok, result.problem
    assert result.length == LENGTH and result.first_bad_seq == 0
    assert result.anchors_checked == len(ANCHORS)
    assert result.unanchored_entries == LENGTH - LAST_ANCHOR


async def test_database_records_take_the_compiled_page_check(chain: Chain, walked_rows: list[int]) -> None:
    """asyncpg's records go through audit_svc/_pagecheck.c as they are: only the
    chain's first entry is walked in Python."""
    conn = await asyncpg.connect(chain.admin_dsn)
    try:
        result = await chain.verify(conn)
    finally:
        await conn.close()
    assert result.ok and result.length == LENGTH
    assert sum(walked_rows) == 1


async def test_every_mutation_before_the_last_anchor_is_detected(chain: Chain) -> None:
    rng = random.Random(8785)
    tried: Counter[str] = Counter()
    detected: Counter[str] = Counter()
    wrong: list[str] = []
    for name, mutate in CATALOGUE.items():
        for _ in range(POSITIONS_PER_MUTATION):
            expected, result = await _tampered(chain, mutate, rng)
            tried[name] += 1
            if not result.ok:
                detected[name] += 1
            if result.ok or result.first_bad_seq != expected:
                wrong.append(f"{name}: expected {expected}, got {result.first_bad_seq} ({result.problem})")
    report = ", ".join(f"{name} {detected[name]}/{tried[name]}" for name in CATALOGUE)
    print(f"\nmutation catalogue: {sum(detected.values())}/{sum(tried.values())} detected - {report}")
    assert not wrong, "\n".join(wrong[:20])
    assert sum(tried.values()) == len(CATALOGUE) * POSITIONS_PER_MUTATION


async def test_a_rewrite_after_the_last_anchor_is_the_reported_window(chain: Chain) -> None:
    """The documented limit: entries after the newest anchor are protected by
    the chain alone, and verification says how many there are."""

    async def rewrite_unanchored(conn, session, rng) -> int:
        row = await _row(conn, session, LAST_ANCHOR + 1)
        prev = row["prev_hash"]
        for seq in range(LAST_ANCHOR + 1, LENGTH + 1):
            record = (await _row(conn, session, seq))["record"].replace(b"notes/", b"nOtes/", 1)
            digest = entry_hash(prev, seq, record)
            await conn.execute(
                f"UPDATE audit.audit_events SET record = $3, prev_hash = $4, hash = $5 {WHERE}",
                session, seq, record, prev, digest,
            )  # fmt: skip
            prev = digest
        return 0

    _, result = await _tampered(chain, rewrite_unanchored, random.Random(1))
    assert result.ok
    assert result.unanchored_entries == LENGTH - LAST_ANCHOR
    assert result.unanchored_seconds > 0
