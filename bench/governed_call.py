"""Governed no-op tool call end to end, against bare gRPC baselines measured in the same run.

    .venv/bin/python -m bench.governed_call [--runs 3] [--seconds 4] [--concurrency 1 8 16 32]

For each run and each concurrency level, in turn:
  echo      grpc.aio round trip to one echo process (no logic)
  chain     grpc.aio through four processes (forward → forward → forward → echo)
  grpc      AgentService.InvokeTool(sys.noop) over gRPC through the gateway
  rest      POST /api/v1/agents/{id}:invokeTool through the gateway

A governed call is: gateway (verify the bearer token) → kernel (verify it again,
check `tools.invoke`, load the agent, audit who asked, schema check) → policy
Authorize (verify the agent's token and its lineage, decide, record the syscall
and append SYSCALL_ALLOWED to the audit chain, in one transaction) → sys.noop →
policy Complete (settle, append SYSCALL_COMPLETED) → back. Each in-flight caller
uses its own agent (its own session, so its own audit chain), as concurrent
agents would. Every figure is also given as a ratio to the chain's in the same
run; the JSON holds every run, the summary is the median run.

The REST load comes from aiohttp: with httpx at 32 in flight the client's own
overhead made most of the tail (p99 834 ms measured at the client against 239 ms
inside the gateway, in the same run).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import grpc

from aos.v1 import agents_pb2, agents_pb2_grpc
from bench.grpc_baselines import METHOD, baseline_processes
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

TARGETS = ("echo", "chain", "grpc", "rest")
THROUGHPUT_LEVEL = 16


async def measure_level(stack: RunningStack, agents: list[str], echo: str, chain: str, concurrency: int,
                        seconds: float) -> dict[str, dict[str, float]]:
    token = stack.admin_token
    metadata = (("authorization", f"Bearer {token}"),)
    payload = agents_pb2.InvokeToolRequest(agent_id=agents[0], tool="sys.noop", args_json="{}").SerializeToString()
    results: dict[str, Latencies] = {}
    async with grpc.aio.insecure_channel(echo) as echo_channel, \
            grpc.aio.insecure_channel(chain) as chain_channel, \
            grpc.aio.insecure_channel(stack.grpc_address) as gateway_channel, \
            aiohttp.ClientSession(base_url=stack.http_url, headers={"Authorization": f"Bearer {token}"},
                                  connector=aiohttp.TCPConnector(limit=64),
                                  timeout=aiohttp.ClientTimeout(total=30)) as http:
        echo_call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = echo_channel.unary_unary(METHOD)
        chain_call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = chain_channel.unary_unary(METHOD)
        invoke = agents_pb2_grpc.AgentServiceStub(gateway_channel).InvokeTool

        async def bare(call: grpc.aio.UnaryUnaryMultiCallable, index: int) -> None:
            await call(payload, metadata=metadata, timeout=30)

        async def governed_grpc(index: int) -> None:
            reply = await invoke(agents_pb2.InvokeToolRequest(agent_id=agents[index], tool="sys.noop"),
                                 metadata=metadata, timeout=30)
            if not reply.ok:
                raise RuntimeError(reply.result)

        async def governed_rest(index: int) -> None:
            async with http.post(f"/api/v1/agents/{agents[index]}:invokeTool", json={"tool": "sys.noop"}) as reply:
                body = await reply.json()
            if reply.status != 200 or not body.get("ok"):
                raise RuntimeError(str(body))

        results["echo"] = await closed_loop(lambda i: bare(echo_call, i), concurrency, seconds)
        results["chain"] = await closed_loop(lambda i: bare(chain_call, i), concurrency, seconds)
        results["grpc"] = await closed_loop(governed_grpc, concurrency, seconds)
        results["rest"] = await closed_loop(governed_rest, concurrency, seconds)
    return {name: latencies.summary() for name, latencies in results.items()}


def with_ratios(level: dict[str, dict[str, float]]) -> dict[str, Any]:
    chain = level["chain"]
    ratios = {}
    for name in ("grpc", "rest", "echo"):
        ratios[name] = {
            "p50_vs_chain_p50": level[name]["p50_ms"] / chain["p50_ms"],
            "p99_vs_own_p50": level[name]["p99_ms"] / level[name]["p50_ms"],
            "throughput_vs_chain": level[name]["throughput_per_s"] / chain["throughput_per_s"],
        }
    return {**level, "ratios": ratios}


def targets(run: dict[str, Any]) -> dict[str, Any]:
    """The issue's three targets, judged on the gRPC and REST governed calls."""
    out: dict[str, Any] = {}
    for name in ("grpc", "rest"):
        p50_ratio = max(run[c]["ratios"][name]["p50_vs_chain_p50"] for c in run)
        p99_ratio = max(run[c]["ratios"][name]["p99_vs_own_p50"] for c in run)
        level = run.get(str(THROUGHPUT_LEVEL))
        throughput = level["ratios"][name]["throughput_vs_chain"] if level else float("nan")
        out[name] = {
            "worst_p50_vs_chain_p50": p50_ratio, "p50_target_met": p50_ratio <= 1.5,
            "worst_p99_vs_own_p50": p99_ratio, "p99_target_met": p99_ratio <= 3.0,
            f"throughput_vs_chain_at_{THROUGHPUT_LEVEL}": throughput, "throughput_target_met": throughput >= 0.6,
        }
    return out


def plot(summary: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    levels = sorted(int(c) for c in summary)
    fig, (lat, thr) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in TARGETS:
        lat.plot(levels, [summary[str(c)][name]["p50_ms"] for c in levels], marker="o", label=f"{name} p50")
        lat.plot(levels, [summary[str(c)][name]["p99_ms"] for c in levels], marker="x", linestyle=":",
                 label=f"{name} p99")
        thr.plot(levels, [summary[str(c)][name]["throughput_per_s"] for c in levels], marker="o", label=name)
    lat.set(xscale="log", yscale="log", xlabel="calls in flight", ylabel="latency (ms)",
            title="Governed no-op vs bare gRPC (median run)")
    thr.set(xscale="log", xlabel="calls in flight", ylabel="calls / s", title="Throughput")
    for axis in (lat, thr):
        axis.set_xticks(levels, [str(c) for c in levels])
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per target and level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 16, 32])
    args = parser.parse_args()
    most = max(args.concurrency)
    runs: list[dict[str, Any]] = []
    with running_stack({"AOS_WORKERS": "0"}) as stack, baseline_processes(1) as echo, \
            baseline_processes(4) as chain, stack.client() as client:
        agent_class = create_class(client, ["sys.noop"])
        agents = [spawn(client, agent_class, "measured", ["sys.noop"])["agent_id"] for _ in range(most)]
        for run in range(args.runs):
            measured = {}
            for concurrency in args.concurrency:
                level = asyncio.run(measure_level(stack, agents, echo, chain, concurrency, args.seconds))
                measured[str(concurrency)] = with_ratios(level)
                print(f"run {run + 1} c={concurrency}: " + ", ".join(
                    f"{n} p50 {level[n]['p50_ms']:.2f}ms {level[n]['throughput_per_s']:.0f}/s" for n in TARGETS),
                    flush=True)
            runs.append(measured)
    summary = median_run(runs, key=lambda r: r["1"]["ratios"]["grpc"]["p50_vs_chain_p50"] if "1" in r else 0.0)
    results = {"machine": machine(), "settings": vars(args), "summary": summary, "targets": targets(summary),
               "runs": runs}
    path = write_results("governed_call", results)
    plot(summary, path.with_suffix(".png"))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
