"""The policy decision without I/O (policy_svc/decisions.py), per call.

    .venv/bin/python -m bench.policy_decision [--runs 5] [--calls 20000]

Cases, each timed call by call (perf_counter_ns) after a warm-up:
  tool_reversible   caller check + capability + registration + canonical args/hash check → RUN
  tool_approved     the same for an irreversible tool, then the named approval's verdict
  llm_reservation   caller check + backend/class checks + the cost estimate to reserve
  token_verify      for scale, not part of the decision: Ed25519 signature + claims +
                    the lineage check policy runs on every syscall (rows given; the key
                    ring's directory listing is the one I/O left in), for a token seen
                    for the first time
  token_verify_seen the same for a token whose signature check is memoized
                    (aos_common/tokens.py): times and lineage are still checked
Target: each decision case p50 ≤ 55 µs. The median run is reported.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from aos_common.canonical import canonical_json, sha256_hex
from aos_common.tokens import Claims, kid_of
from bench.harness import machine, median_run, percentile, pyplot, write_results
from policy_svc import decisions
from policy_svc.capability import TokenRecord, check_lineage, record_of, verify_signature
from policy_svc.classes import AgentClass
from policy_svc.keys import KeyRing
from policy_svc.pricing import DEFAULT_PRICES, PriceTable
from policy_svc.requests import SyscallRequest
from policy_svc.syscalls import LLM_CALL, TOOL_CALL

TARGET_P50_US = 55.0
FRESH_TOKENS = 5000  # > the signature memo's 4096 entries
AGENT_ID = str(uuid.uuid4())
CAPS = frozenset({"fs.read_file", "fs.list_dir", "fs.delete_file", "sys.noop", "agents.spawn"})


def agent_claims() -> Claims:
    now = int(time.time())
    return Claims(jti=str(uuid.uuid4()), subject=f"agent:{AGENT_ID}", kind="agent", capabilities=CAPS,
                  backends=frozenset({"anthropic"}), issued_at=now, expires_at=now + 3600,
                  session_id=str(uuid.uuid4()), parent_jti="", cost_ceiling_usd=5.0, agent_class="bench")


def tool_request(tool: str, args: dict[str, Any], approval_id: str = "") -> SyscallRequest:
    canonical = canonical_json(args).decode()
    return SyscallRequest(token="", kind=TOOL_CALL, target=tool, agent_id=AGENT_ID, args_canonical=canonical,
                          args_hash=sha256_hex(canonical.encode()), approval_id=approval_id)


def cases(keys_dir: Path) -> dict[str, Callable[[], object]]:
    claims = agent_claims()
    read = tool_request("fs.read_file", {"path": "notes/q3.txt"})
    registered = {"name": "fs.read_file", "reversible": True, "blast_radius": "low"}
    approval_id = str(uuid.uuid4())
    delete = tool_request("fs.delete_file", {"path": "notes/old.txt"}, approval_id)
    irreversible = {"name": "fs.delete_file", "reversible": False, "blast_radius": "high"}
    approval = {"approval_id": approval_id, "agent_id": AGENT_ID, "tool": "fs.delete_file",
                "args_hash": delete.args_hash, "state": "approved", "past_expiry": False, "reason": ""}
    llm = SyscallRequest(token="", kind=LLM_CALL, target="anthropic", agent_id=AGENT_ID, model="aos-scripted",
                         max_input_tokens=1800, max_output_tokens=1024)
    agent_class = AgentClass(name="bench", backend="anthropic", model="aos-scripted",
                             allowed_backends=frozenset({"anthropic"}), capabilities=CAPS, cost_ceiling_usd=5.0)
    prices = PriceTable(DEFAULT_PRICES)

    def tool_reversible() -> object:
        decisions.check_caller(claims, read)
        return decisions.tool_route(claims, read, registered)

    def tool_approved() -> object:
        decisions.check_caller(claims, delete)
        assert decisions.tool_route(claims, delete, irreversible) == decisions.USE_APPROVAL
        return decisions.approval_verdict(approval, AGENT_ID, delete)

    def llm_reservation() -> object:
        decisions.check_caller(claims, llm)
        estimate = decisions.llm_estimate(claims, llm, agent_class, prices)
        assert estimate > Decimal(0)
        return estimate

    ring = KeyRing(keys_dir)
    ring.ensure()
    # More distinct tokens than the signature memo holds, taken in turn: each
    # is evicted before it comes round again, so every check is a first sight.
    fresh = []
    for _ in range(FRESH_TOKENS):
        minted = replace(claims, jti=str(uuid.uuid4()))
        token, kid = ring.sign(minted.to_payload())
        fresh.append((token, [record_of(minted, kid, AGENT_ID)]))
    turn = itertools.cycle(fresh)
    seen_token, seen_lineage = fresh[0]

    def token_verify(token: str, lineage: list[TokenRecord]) -> object:
        verified = verify_signature(token, ring.public_keys())
        check_lineage(verified, kid_of(token), lineage)
        return verified

    return {"tool_reversible": tool_reversible, "tool_approved": tool_approved,
            "llm_reservation": llm_reservation,
            "token_verify": lambda: token_verify(*next(turn)),
            "token_verify_seen": lambda: token_verify(seen_token, seen_lineage)}


def time_case(function: Callable[[], object], calls: int) -> dict[str, float]:
    for _ in range(min(2000, calls)):
        function()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(calls):
        start = clock()
        function()
        samples.append(clock() - start)
    samples.sort()
    return {"calls": calls, "p50_us": percentile(samples, 50) / 1000, "p99_us": percentile(samples, 99) / 1000,
            "mean_us": sum(samples) / len(samples) / 1000}


def plot(summary: dict[str, dict[str, float]], path: Path) -> None:
    plt = pyplot()
    names = list(summary)
    fig, axis = plt.subplots(figsize=(8, 3.6))
    rows = range(len(names))
    axis.barh([r + 0.2 for r in rows], [summary[n]["p50_us"] for n in names], height=0.4, label="p50")
    axis.barh([r - 0.2 for r in rows], [summary[n]["p99_us"] for n in names], height=0.4, label="p99")
    axis.axvline(TARGET_P50_US, color="red", linestyle="--", label=f"target p50 ≤ {TARGET_P50_US:g} µs")
    axis.set_yticks(list(rows), names)
    axis.set(xscale="log", xlabel="µs per call", title="Policy decision without I/O (median run)")
    axis.grid(True, axis="x", alpha=0.3)
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aos-bench-keys-") as keys_dir:
        measured = cases(Path(keys_dir) / "keys")
        runs = [{name: time_case(function, args.calls) for name, function in measured.items()}
                for _ in range(args.runs)]
    summary = median_run(runs, key=lambda r: r["tool_reversible"]["p50_us"])
    decision_cases = ("tool_reversible", "tool_approved", "llm_reservation")
    targets = {name: {"p50_us": summary[name]["p50_us"], "target_p50_us": TARGET_P50_US,
                      "met": summary[name]["p50_us"] <= TARGET_P50_US} for name in decision_cases}
    path = write_results("policy_decision", {"machine": machine(), "settings": vars(args), "summary": summary,
                                             "targets": targets, "runs": runs})
    plot(summary, path.with_suffix(".png"))
    for name, figures in summary.items():
        print(f"{name:16s} p50 {figures['p50_us']:7.1f} µs   p99 {figures['p99_us']:7.1f} µs")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
