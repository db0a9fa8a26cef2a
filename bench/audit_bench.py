"""Audit chain benchmark (issue 3). Prints one JSON object; ratios are measured in the same run.

    .venv/bin/python -m bench.audit_bench [--appends 3000] [--verify-length 20000] [--runs 1]

Uses the embedded PostgreSQL in a temporary directory, or AOS_BENCH_DATABASE_URL
(a superuser DSN; a scratch database is created in it). synchronous_commit
stays on.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aosiq.database import SERVICE_ROLES, create_database, start_embedded, with_user
from aosiq.migrate import migrate
from audit_svc.anchor_documents import AnchorSigner
from audit_svc.anchor_store import LocalAnchorStore
from audit_svc.anchorer import Anchorer
from audit_svc.chain import ENTRY_TAG, Actor, NewEvent, new_event
from audit_svc.store import SQL, AuditStore, stream_rows
from audit_svc.verify import AnchorSet, ChainEntry, ChainVerifier
from bench.harness import machine, median_run, pyplot, write_results

RAW_TABLE = """
CREATE TABLE public.bench_raw (
    session_id uuid NOT NULL, chain_seq integer NOT NULL, event_type text NOT NULL, record bytea NOT NULL,
    prev_hash bytea NOT NULL, hash bytea NOT NULL, created_at timestamptz NOT NULL,
    PRIMARY KEY (session_id, chain_seq))
"""
RAW_INSERT = "INSERT INTO public.bench_raw VALUES ($1, $2, $3, $4, $5, $6, $7)"
# The session's rows as stored, and the same rows with only the columns the verifier reads.
PLAIN_FETCH = (
    "SELECT chain_seq, event_type, record, prev_hash, hash, created_at FROM audit.audit_events"
    " WHERE session_id = $1 ORDER BY chain_seq"
)
PLAIN_FETCH_CHECKED_COLUMNS = (
    "SELECT chain_seq, event_type, record, prev_hash, hash FROM audit.audit_events"
    " WHERE session_id = $1 ORDER BY chain_seq"
)
REPEATS = 5
ACTOR = Actor("policy", "operator@bench", "jti-bench")
PAYLOAD = json.dumps({"tool": "fs.read_file", "args": {"path": "notes/q3.txt"}, "decision": "ALLOW",
                      "args_hash": "ab" * 32, "cost_usd": 0.0012})


def event(session: str) -> NewEvent:
    return new_event(session, "SYSCALL_ALLOWED", ACTOR, PAYLOAD, datetime.now(UTC))


async def raw_insert_rate(admin_dsn: str, count: int) -> float:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(RAW_TABLE)
        session, sample = uuid.uuid4(), event(str(uuid.uuid4()))
        digest = hashlib.sha256(b"x").digest()
        start = time.perf_counter()
        for seq in range(1, count + 1):
            await conn.execute(RAW_INSERT, session, seq, sample.event_type, sample.record, digest, digest,
                               sample.created_at)
        return count / (time.perf_counter() - start)
    finally:
        await conn.close()


async def bare_append_rate(dsn: str, count: int) -> float:
    """`audit.append_event` on one bare connection: the same client path as the raw INSERT."""
    conn = await asyncpg.connect(dsn)
    try:
        ready = event(str(uuid.uuid4()))
        session = uuid.UUID(ready.session_id)
        start = time.perf_counter()
        for _ in range(count):
            await conn.fetchrow(SQL["append_event"], session, ready.event_type, ready.record, ready.created_at)
        return count / (time.perf_counter() - start)
    finally:
        await conn.close()


async def append_rate(store: AuditStore, writers: int, sessions: int, per_writer: int, prebuilt: bool) -> float:
    ids = [str(uuid.uuid4()) for _ in range(sessions)]

    async def writer(index: int) -> None:
        session = ids[index % sessions]
        ready = event(session)
        for _ in range(per_writer):
            await store.append(ready if prebuilt else event(session))

    start = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    return writers * per_writer / (time.perf_counter() - start)


async def verification(dsn: str, store: AuditStore, length: int) -> dict[str, float]:
    session = str(uuid.uuid4())
    for _ in range(length):
        await store.append(event(session))
    conn = await asyncpg.connect(dsn)
    try:
        # Each side is timed REPEATS times, alternating, and its median taken: one
        # fetch of 20 000 rows is short enough that a single garbage collection
        # moves it by a third.
        fetches: list[float] = []
        narrow_fetches: list[float] = []
        streams: list[float] = []
        for _ in range(REPEATS):
            for query, timings in ((PLAIN_FETCH, fetches), (PLAIN_FETCH_CHECKED_COLUMNS, narrow_fetches)):
                start = time.perf_counter()
                rows = await conn.fetch(query, uuid.UUID(session))
                timings.append(time.perf_counter() - start)
                assert len(rows) == length
                del rows

            start = time.perf_counter()
            verifier = ChainVerifier(session, AnchorSet(checkpoints={}), datetime.now(UTC))
            async for batch in stream_rows(conn, session):
                verifier.feed(batch)
            result = verifier.result()
            streams.append(time.perf_counter() - start)
            assert result.ok and result.length == length, result
        fetch_seconds, stream_seconds = statistics.median(fetches), statistics.median(streams)
        narrow_fetch_seconds = statistics.median(narrow_fetches)

        entries = [ChainEntry._make(row) for batch in [b async for b in stream_rows(conn, session)] for row in batch]
    finally:
        await conn.close()
    # Two baselines: hashlib over the hashed bytes already laid out in memory,
    # and hashlib over the same bytes assembled per entry as any chain hash needs.
    blobs = [ENTRY_TAG + e.prev_hash + e.chain_seq.to_bytes(8, "big") + e.record for e in entries]
    sha256, tag = hashlib.sha256, ENTRY_TAG

    def bare_hashlib() -> None:
        for blob in blobs:
            sha256(blob).digest()

    def hashlib_assembling() -> None:
        for e in entries:
            sha256(tag + e.prev_hash + e.chain_seq.to_bytes(8, "big") + e.record).digest()

    def verify_in_memory() -> None:
        verifier = ChainVerifier(session, AnchorSet(checkpoints={}), datetime.now(UTC))
        verifier.feed(entries)
        assert verifier.result().ok

    hashlib_seconds, hashlib_assembling_seconds, memory_seconds = (
        median_time(work) for work in (bare_hashlib, hashlib_assembling, verify_in_memory))
    return {
        "entries": length,
        "plain_fetch_per_s": length / fetch_seconds,
        "streamed_verify_per_s": length / stream_seconds,
        "streamed_vs_fetch": fetch_seconds / stream_seconds,
        "streamed_vs_fetch_best_of_each": min(fetches) / min(streams),
        "plain_fetch_checked_columns_per_s": length / narrow_fetch_seconds,
        "streamed_vs_fetch_checked_columns": narrow_fetch_seconds / stream_seconds,
        "hashlib_per_s": length / hashlib_seconds,
        "in_memory_verify_per_s": length / memory_seconds,
        "in_memory_vs_hashlib": hashlib_seconds / memory_seconds,
        "hashlib_assembling_per_s": length / hashlib_assembling_seconds,
        "in_memory_vs_hashlib_assembling": hashlib_assembling_seconds / memory_seconds,
    }


def median_time(work: Callable[[], None]) -> float:
    timings = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        work()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


async def anchor_write_rates(store: AuditStore, home: Path, sessions: int, seconds: float) -> list[dict[str, float]]:
    """Anchor writes per second at growing event rates (N=100 events, T=1 s)."""
    results = []
    for target_rate in (200, 1000, 0):  # 0: as fast as appends go
        anchors = LocalAnchorStore(home / f"anchors-{target_rate}")
        anchorer = Anchorer(store, anchors, AnchorSigner(Ed25519PrivateKey.generate()), 100, 1.0)
        await anchorer.start()
        ids = [str(uuid.uuid4()) for _ in range(sessions)]
        appended = 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            if target_rate and appended >= target_rate * elapsed:
                await asyncio.sleep(0.002)
                continue
            session = ids[appended % sessions]
            await store.append(event(session))
            anchorer.note_append(session)
            appended += 1
        elapsed = time.perf_counter() - start
        writes = anchorer.stats().successes
        await anchorer.stop()
        results.append({"events_per_s": appended / elapsed, "anchor_writes_per_s": writes / elapsed})
    return results


async def run(admin_dsn: str, home: Path, appends: int, verify_length: int) -> dict[str, Any]:
    database = f"aos_bench_{uuid.uuid4().hex[:8]}"
    db_admin = await create_database(admin_dsn, database)
    await migrate(db_admin)
    dsn = with_user(db_admin, SERVICE_ROLES["audit"])
    store = await AuditStore.open(dsn, max_size=8)
    try:
        await append_rate(store, 1, 1, 200, prebuilt=True)  # warm up
        raw = await raw_insert_rate(db_admin, appends)
        single = await append_rate(store, 1, 1, appends, prebuilt=True)
        bare = await bare_append_rate(dsn, appends)
        single_full = await append_rate(store, 1, 1, appends, prebuilt=False)
        per_writer = appends // 8
        many = await append_rate(store, 8, 8, per_writer, prebuilt=True)
        contended = await append_rate(store, 8, 1, per_writer, prebuilt=True)
        verify = await verification(dsn, store, verify_length)
        anchors = await anchor_write_rates(store, home, sessions=4, seconds=3.0)
    finally:
        await store.close()
    return {
        "append": {
            "raw_insert_per_s": raw,
            "append_per_s": single,
            "append_vs_raw_insert": single / raw,
            "append_bare_connection_per_s": bare,
            "append_bare_connection_vs_raw_insert": bare / raw,
            "append_incl_record_building_per_s": single_full,
            "append_incl_record_building_vs_raw_insert": single_full / raw,
            "writers8_sessions8_per_s": many,
            "writers8_sessions8_vs_single": many / single,
            "writers8_session1_per_s": contended,
            "writers8_session1_vs_single": contended / single,
        },
        "verify": verify,
        "anchor_writes": anchors,
    }


def main() -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=3000)
    parser.add_argument("--verify-length", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=1, help="repeat; the median run (by append_vs_raw_insert) "
                                                           "is printed, every run goes to bench/results/audit.json")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="aos-audit-bench-") as tmp:
        home = Path(tmp)
        server = None
        admin_dsn = os.environ.get("AOS_BENCH_DATABASE_URL")
        if not admin_dsn:
            server, admin_dsn = start_embedded(home / "pgdata")
        try:
            for index in range(args.runs):
                runs.append(asyncio.run(run(admin_dsn, home / f"run-{index}", args.appends, args.verify_length)))
        finally:
            if server is not None:
                server.cleanup()
    results = median_run(runs, key=lambda r: r["append"]["append_vs_raw_insert"])
    ratios = ratio_medians(runs)
    path = write_results("audit", {"machine": machine(), "settings": vars(args), "summary": results,
                                   "ratio_medians": ratios, "runs": runs})
    plot(ratios, results["anchor_writes"], path.with_suffix(".png"))
    print(json.dumps({**results, "ratio_medians": ratios}, indent=2))


# Issue 3's targets, for the plot: at least this much of each baseline.
TARGETS = {
    "append_vs_raw_insert": 0.75,
    "append_bare_connection_vs_raw_insert": 0.75,
    "writers8_sessions8_vs_single": 1.5,
    "writers8_session1_vs_single": 0.8,
    "streamed_vs_fetch": 0.70,
    "streamed_vs_fetch_checked_columns": 0.70,
    "in_memory_vs_hashlib": 0.60,
}


def plot(ratios: dict[str, float], anchor_writes: list[dict[str, float]], path: Path) -> None:
    plt = pyplot()
    fig, (bars, anchors) = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [2, 1]})
    names = list(TARGETS)
    rows = range(len(names))
    bars.barh(list(rows), [ratios[n] for n in names], height=0.5, label="measured (median of runs)")
    bars.scatter([TARGETS[n] for n in names], list(rows), color="red", marker="|", s=300, label="target (at least)")
    bars.set_yticks(list(rows), names, fontsize=8)
    bars.set(xlabel="ratio to its baseline, same run", title="Audit chain against its baselines")
    bars.grid(True, axis="x", alpha=0.3)
    bars.legend(fontsize=8)
    anchors.plot([a["events_per_s"] for a in anchor_writes], [a["anchor_writes_per_s"] for a in anchor_writes],
                 marker="o")
    anchors.set(xlabel="events / s", ylabel="anchor writes / s", title="Anchor writes as the event rate grows")
    anchors.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def ratio_medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Each target ratio's own median across runs (the summary is one whole run)."""
    picks = {
        "append_vs_raw_insert": ("append", "append_vs_raw_insert"),
        "append_bare_connection_vs_raw_insert": ("append", "append_bare_connection_vs_raw_insert"),
        "writers8_sessions8_vs_single": ("append", "writers8_sessions8_vs_single"),
        "writers8_session1_vs_single": ("append", "writers8_session1_vs_single"),
        "streamed_vs_fetch": ("verify", "streamed_vs_fetch"),
        "streamed_vs_fetch_checked_columns": ("verify", "streamed_vs_fetch_checked_columns"),
        "in_memory_vs_hashlib": ("verify", "in_memory_vs_hashlib"),
    }
    return {name: statistics.median(run[group][key] for run in runs)
            for name, (group, key) in picks.items()}


if __name__ == "__main__":
    main()
