"""What one fair claim costs as the queue grows: the kernel's `claim` statement
against the one it replaced, on the same database in the same run.

    .venv/bin/python -m bench.claim [--levels 100 1000 5000] [--claims 200] [--runs 3]

Each level queues N agents in one fanned-out session, 5 in each of 20 other
sessions, and keeps 2·N finished agents as history. Each claim runs in a
transaction that is rolled back, so every sample sees the same queue. The
baseline is the statement before migration 0011: it ranked every session by
aggregating all its agents and sorted every due agent. The summary is the median
run by the ratio at the largest level.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from aosiq.database import create_database, start_embedded, with_database
from aosiq.migrate import migrate
from bench.harness import machine, median_run, percentile, pyplot, write_results
from kernel_svc.store import SQL

BASELINE = """
WITH turns AS (
    SELECT s.session_id, count(*) FILTER (WHERE s.state = 'running') AS running, max(s.claimed_at) AS last_claimed
    FROM kernel.agent_processes s
    WHERE s.session_id IN (SELECT d.session_id FROM kernel.agent_processes d
                           WHERE d.state IN ('runnable', 'waiting_approval') AND d.not_before <= now())
    GROUP BY s.session_id
), next AS (
    SELECT q.id FROM kernel.agent_processes q JOIN turns t ON t.session_id = q.session_id
    WHERE q.state IN ('runnable', 'waiting_approval') AND q.not_before <= now()
    ORDER BY t.running, t.last_claimed NULLS FIRST, q.not_before, q.created_at
    LIMIT 1
    FOR UPDATE OF q SKIP LOCKED
)
UPDATE kernel.agent_processes AS a
SET state = 'running', worker_id = $1, last_heartbeat = now(), claimed_at = now(), attempts = a.attempts + 1,
    updated_at = now()
FROM next
WHERE a.id = next.id AND a.state = ANY (kernel.allowed_predecessors('running'))
RETURNING a.*;
"""

INSERT = """
INSERT INTO kernel.agent_processes (id, session_id, agent_class, backend, model, state, task, grants, token,
                                    token_jti, token_expires_at, created_at, not_before)
SELECT gen_random_uuid(), $1, 'bench', 'anthropic', 'aos-scripted', $3, 'plan:\n1. answer x', '{}', 't',
       md5(random()::text), now() + interval '1 hour', t, t
FROM generate_series(1, $2) AS g, LATERAL (SELECT now() - make_interval(secs => g) AS t) AS at
"""


async def queue(conn: asyncpg.Connection, agents: int) -> None:
    await conn.execute("TRUNCATE kernel.agent_processes CASCADE")
    fan_out = str(uuid.uuid4())
    await conn.execute(INSERT, fan_out, agents, "runnable")
    await conn.execute(INSERT, fan_out, 2 * agents, "completed")
    for _ in range(20):
        await conn.execute(INSERT, str(uuid.uuid4()), 5, "runnable")
    await conn.execute("ANALYZE kernel.agent_processes")


async def measure(dsn: str, levels: list[int], claims: int) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        measured: dict[str, Any] = {}
        for level in levels:
            await queue(conn, level)
            row: dict[str, Any] = {}
            for name, statement in (("baseline", BASELINE), ("current", SQL["claim"])):
                samples = sorted(await _samples(conn, statement, claims))
                row[name] = {"p50_ms": 1000 * percentile(samples, 50), "p99_ms": 1000 * percentile(samples, 99)}
            row["ratio_p50"] = row["baseline"]["p50_ms"] / row["current"]["p50_ms"]
            measured[str(level)] = row
        return measured
    finally:
        await conn.close()


async def _samples(conn: asyncpg.Connection, statement: str, claims: int) -> list[float]:
    samples: list[float] = []
    for i in range(claims):
        start = time.perf_counter()
        transaction = conn.transaction()
        await transaction.start()
        try:
            if await conn.fetchrow(statement, f"bench-{i}") is None:
                raise RuntimeError("the queue was empty")
        finally:
            await transaction.rollback()
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--claims", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aos-bench-claim-") as tmp:
        server, admin_dsn = start_embedded(Path(tmp) / "pgdata")
        try:
            name = f"aos_bench_{uuid.uuid4().hex[:8]}"

            async def prepare() -> str:
                await migrate(await create_database(admin_dsn, name))
                return with_database(admin_dsn, name)

            dsn = asyncio.run(prepare())
            runs = []
            for run in range(args.runs):
                measured = asyncio.run(measure(dsn, args.levels, args.claims))
                print(f"run {run + 1}: " + "; ".join(
                    f"{level}: {m['baseline']['p50_ms']:.2f} -> {m['current']['p50_ms']:.2f} ms "
                    f"({m['ratio_p50']:.1f}x)" for level, m in measured.items()), flush=True)
                runs.append(measured)
        finally:
            server.cleanup()
    top = str(args.levels[-1])
    result = median_run(runs, key=lambda r: r[top]["ratio_p50"])
    path = write_results("claim", {"machine": machine(), "settings": vars(args), "summary": result, "runs": runs})
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(5.5, 3.8))
    levels = list(result)
    for name, marker in (("baseline", "o"), ("current", "s")):
        axis.plot(levels, [result[level][name]["p50_ms"] for level in levels], marker=marker, label=f"{name} p50")
    axis.set(xlabel="agents queued in one session (+100 in 20 others)", ylabel="ms per claim",
             title="Fair claim cost vs queue depth (median run)")
    axis.legend()
    fig.tight_layout()
    fig.savefig(path.with_suffix(".png"), dpi=110)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
