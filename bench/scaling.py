"""How cost grows with work: agents in flight 10 → 100 → 1000.

    .venv/bin/python -m bench.scaling [--runs 3] [--levels 10 100 1000] [--workers 32]

Each level submits N scripted agents at once (REST, 16 submissions in flight), each
with the same short plan: LLM call → `sys.noop` → LLM call → grounded answer (three
governed syscalls, two of them priced LLM calls against the scripted provider).
The kernel runs `--workers` agent coroutines. Reported per level: submission
time, time until every agent is terminal, agents finished per second, each
agent's latency (created → terminal, from the process table), and the RSS of
every service process before and after. Linear cost means flat agents/s and
latency growing only with queueing (N / workers).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.harness import (
    create_class,
    machine,
    median_run,
    percentile,
    pyplot,
    running_stack,
    service_rss_mib,
    write_results,
)
from tests.stack import RunningStack

PLAN = "Measure one step.\nplan:\n1. call sys.noop {}\n2. answer Done. [evidence: 1]"
TERMINAL = ("completed", "failed", "abandoned_ungrounded", "cancelled")
AGENT_TIMES = """
SELECT state, extract(epoch FROM updated_at - created_at) AS seconds
FROM kernel.agent_processes WHERE id = ANY($1::uuid[])
"""


async def submit(stack: RunningStack, agent_class: str, count: int) -> list[str]:
    ids: list[str] = []
    queue = list(range(count))
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=60,
                                 headers={"Authorization": f"Bearer {stack.admin_token}"}) as http:
        async def submitter() -> None:
            while queue:
                queue.pop()
                reply = await http.post("/api/v1/agents", json={"agent_class": agent_class, "task": PLAN,
                                                                "grants": ["sys.noop"]})
                reply.raise_for_status()
                ids.append(reply.json()["agent_id"])

        await asyncio.gather(*(submitter() for _ in range(16)))
    return ids


async def wait_terminal(dsn: str, ids: list[str], within_seconds: float) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + within_seconds
        while True:
            rows = await conn.fetch(AGENT_TIMES, ids)
            if all(r["state"] in TERMINAL for r in rows) or time.monotonic() > deadline:
                return list(rows)
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


def measure_level(stack: RunningStack, agent_class: str, count: int, timeout: float) -> dict[str, Any]:
    rss_before = service_rss_mib(stack)
    started = time.perf_counter()
    ids = asyncio.run(submit(stack, agent_class, count))
    submitted = time.perf_counter() - started
    rows = asyncio.run(wait_terminal(stack.db.admin_dsn, ids, timeout))
    all_terminal = time.perf_counter() - started
    rss_after = service_rss_mib(stack)
    latencies = sorted(float(r["seconds"]) for r in rows)
    states: dict[str, int] = {}
    for row in rows:
        states[row["state"]] = states.get(row["state"], 0) + 1
    return {
        "agents": count,
        "states": states,
        "submit_seconds": submitted,
        "all_terminal_seconds": all_terminal,
        "agents_per_s": count / all_terminal,
        "agent_latency_p50_s": percentile(latencies, 50),
        "agent_latency_p99_s": percentile(latencies, 99),
        "agent_latency_mean_s": statistics.fmean(latencies),
        "rss_before_mib": rss_before,
        "rss_after_mib": rss_after,
        "rss_growth_mib": {name: rss_after[name] - rss_before[name] for name in rss_after},
    }


def plot(summary: list[dict[str, Any]], path: Path) -> None:
    plt = pyplot()
    counts = [level["agents"] for level in summary]
    fig, (rate, lat, mem) = plt.subplots(1, 3, figsize=(14, 4))
    rate.plot(counts, [level["agents_per_s"] for level in summary], marker="o")
    rate.set(title="Agents finished per second", ylabel="agents / s")
    lat.plot(counts, [level["agent_latency_p50_s"] for level in summary], marker="o", label="p50")
    lat.plot(counts, [level["agent_latency_p99_s"] for level in summary], marker="x", label="p99")
    lat.set(title="Agent latency (created → terminal)", ylabel="seconds", yscale="log")
    for name in summary[0]["rss_after_mib"]:
        mem.plot(counts, [level["rss_after_mib"][name] for level in summary], marker="o", label=name)
    mem.set(title="Service RSS after each level", ylabel="MiB")
    for axis in (rate, lat, mem):
        axis.set(xscale="log", xlabel="agents submitted at once")
        axis.grid(True, alpha=0.3)
        if axis is not rate:
            axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--levels", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for one level")
    args = parser.parse_args()
    runs = []
    for run in range(args.runs):
        # A fresh stack per run, so each run's RSS starts from the same place.
        with running_stack({"AOS_WORKERS": str(args.workers)}) as stack, stack.client() as client:
            agent_class = create_class(client, ["sys.noop"])
            levels = []
            for count in args.levels:
                level = measure_level(stack, agent_class, count, args.timeout)
                levels.append(level)
                print(f"run {run + 1} n={count}: all terminal in {level['all_terminal_seconds']:.1f}s "
                      f"({level['agents_per_s']:.1f}/s), p50 {level['agent_latency_p50_s']:.2f}s, "
                      f"states {level['states']}, rss {level['rss_after_mib']}", flush=True)
            runs.append(levels)
    summary = median_run(runs, key=lambda levels: levels[-1]["agents_per_s"])
    path = write_results("scaling", {"machine": machine(), "settings": vars(args), "summary": summary,
                                     "runs": runs})
    plot(summary, path.with_suffix(".png"))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
