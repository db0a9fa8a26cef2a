"""An MCP tool call through the syscall boundary, against a direct SDK call to the same server in the same run.

    .venv/bin/python -m bench.mcp_call [--runs 3] [--seconds 4] [--concurrency 1 8]

For each run and each concurrency level, in turn:
  direct    `ClientSession.call_tool("echo")` with the official `mcp` SDK over stdio to
            our test server (tests/mcp_servers/hostile.py), started by the benchmark
  governed  AgentService.InvokeTool(mcp.bench.echo) over gRPC through the gateway, with
            the same server registered (stdio) and approved: gateway → kernel → policy
            Authorize (pinned definition checked, audited) → the server → policy Complete
  noop      InvokeTool(sys.noop) on the same stack: the boundary without a tool server

The MCP-over-boundary cost is `governed` against `direct` (ratio of p50s), and what
the server adds on top of the boundary is `governed` against `noop`. The JSON holds
every run; the summary is the median run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

import grpc
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from aos.v1 import agents_pb2, agents_pb2_grpc
from bench.harness import (
    Latencies,
    closed_loop,
    create_class,
    machine,
    median_run,
    pyplot,
    running_stack,
    spawn,
    write_results,
)
from tests.stack import RunningStack

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ("direct", "governed", "noop")
SERVER = [sys.executable, "-m", "tests.mcp_servers.hostile"]


async def measure_level(stack: RunningStack, agents: list[str], concurrency: int, seconds: float,
                        workdir: Path) -> dict[str, dict[str, float]]:
    metadata = (("authorization", f"Bearer {stack.admin_token}"),)
    results: dict[str, Latencies] = {}
    params = StdioServerParameters(command=SERVER[0], args=SERVER[1:], cwd=str(workdir),
                                   env={"PYTHONPATH": str(ROOT), "HOSTILE_DIR": str(workdir)})
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session, \
            grpc.aio.insecure_channel(stack.grpc_address) as gateway:
        await session.initialize()
        await session.list_tools()
        invoke = agents_pb2_grpc.AgentServiceStub(gateway).InvokeTool

        async def direct(index: int) -> None:
            result = await session.call_tool("echo", {"text": "hello"})
            if result.is_error:
                raise RuntimeError("direct call failed")

        async def governed(index: int, tool: str = "mcp.bench.echo", args: str = '{"text": "hello"}') -> None:
            reply = await invoke(agents_pb2.InvokeToolRequest(agent_id=agents[index], tool=tool, args_json=args),
                                 metadata=metadata, timeout=30)
            if not reply.ok:
                raise RuntimeError(reply.result)

        results["direct"] = await closed_loop(direct, concurrency, seconds)
        results["governed"] = await closed_loop(governed, concurrency, seconds)
        results["noop"] = await closed_loop(lambda i: governed(i, "sys.noop", "{}"), concurrency, seconds)
    level: dict[str, Any] = {name: latencies.summary() for name, latencies in results.items()}
    level["ratios"] = {
        "governed_p50_vs_direct_p50": level["governed"]["p50_ms"] / level["direct"]["p50_ms"],
        "governed_p50_vs_noop_p50": level["governed"]["p50_ms"] / level["noop"]["p50_ms"],
        "governed_throughput_vs_direct": level["governed"]["throughput_per_s"] / level["direct"]["throughput_per_s"],
    }
    return level


def plot(summary: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    levels = sorted(int(c) for c in summary)
    fig, axis = plt.subplots(figsize=(6.5, 4.2))
    width = 0.8 / len(TARGETS)
    for offset, name in enumerate(TARGETS):
        xs = [i + offset * width for i in range(len(levels))]
        axis.bar(xs, [summary[str(c)][name]["p50_ms"] for c in levels], width, label=f"{name} p50")
        axis.scatter(xs, [summary[str(c)][name]["p99_ms"] for c in levels], marker="x", color="black",
                     zorder=3, label="p99" if offset == 0 else None)
    axis.set_xticks([i + width for i in range(len(levels))], [f"{c} in flight" for c in levels])
    axis.set(ylabel="latency (ms)", title="MCP echo: governed vs direct SDK (median run)")
    axis.grid(True, axis="y", alpha=0.3)
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per target and level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="aos-bench-mcp-") as tmp, \
            running_stack({"AOS_WORKERS": "0"}) as stack, stack.client() as client:
        workdir = Path(tmp)
        (workdir / "registered").mkdir()
        server = client.post("/api/v1/tool-servers", timeout=60, json={
            "name": "bench", "transport": "stdio", "command": SERVER,
            "env": {"PYTHONPATH": str(ROOT), "HOSTILE_DIR": str(workdir / "registered")}})
        server.raise_for_status()
        client.post("/api/v1/tool-servers/bench:approveDefinitions", timeout=30,
                    json={"definitions_hash": server.json()["pending_definitions_hash"]}).raise_for_status()
        agent_class = create_class(client, ["mcp.bench.echo", "sys.noop"])
        agents = [spawn(client, agent_class, "measured", ["mcp.bench.echo", "sys.noop"])["agent_id"]
                  for _ in range(max(args.concurrency))]
        for run in range(args.runs):
            measured = {}
            for concurrency in args.concurrency:
                level = asyncio.run(measure_level(stack, agents, concurrency, args.seconds, workdir))
                measured[str(concurrency)] = level
                print(f"run {run + 1} c={concurrency}: " + ", ".join(
                    f"{n} p50 {level[n]['p50_ms']:.2f}ms {level[n]['throughput_per_s']:.0f}/s" for n in TARGETS)
                    + f"; governed/direct p50 {level['ratios']['governed_p50_vs_direct_p50']:.1f}x", flush=True)
            runs.append(measured)
    first = str(args.concurrency[0])
    summary = median_run(runs, key=lambda r: r[first]["ratios"]["governed_p50_vs_direct_p50"])
    results = {"machine": machine(), "settings": vars(args), "summary": summary, "runs": runs}
    path = write_results("mcp_call", results)
    plot(summary, path.with_suffix(".png"))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
