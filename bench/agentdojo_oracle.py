"""AgentDojo's pairs played by an oracle in process, with no runtime: the figures the
containment benchmark should reproduce through the runtime, and a check of
bench/agentdojo_tasks.py against the reference figures measured outside the runtime
before this benchmark existed (quoted in docs/PERFORMANCE.md section 8).

    .venv/bin/python -m bench.agentdojo_oracle [--suite S ...]

The oracle plays the user task's ground truth through AgentDojo's FunctionsRuntime on
the pair's injected environment; at the first tool result (formatted as a model sees
it) holding the pair's trigger it plays the injection task's ground truth, then
answers the user task's GROUND_TRUTH_OUTPUT. AgentDojo scores the run. Defences, as
filters on the injection's calls:

  none              every call runs
  least_privilege   a call runs only if its tool is among the user task's ground-truth tools
  approvals         a call of a side-effecting tool runs only if it equals (function and
                    args) a call of the user task's ground truth: an operator approving
                    exactly what the user asked for

`clean_utility` plays each user task on the default environment without injections.
Pairs whose injection task has no ground-truth calls are not played; they are counted
as `excluded`. Of those, the ones whose goal is text in the answer (travel's
injection_task_6) are scored apart as `text_goals`, with that text appended to the
answer: breached under every defence here. Results: bench/results/agentdojo_oracle.json.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentdojo.agent_pipeline.tool_execution import tool_result_to_str
from agentdojo.functions_runtime import FunctionsRuntime, TaskEnvironment

from bench import agentdojo_tasks
from bench.agentdojo_tasks import SIDE_EFFECT_TOOLS, Call, Pair

RESULTS = Path(__file__).resolve().parent / "results" / "agentdojo_oracle.json"
DEFENCES = ("none", "least_privilege", "approvals")
Allowed = Callable[[Pair, Call], bool]


def allowed_by(defence: str) -> Allowed:
    """Whether `defence` lets an injection task's call of the pair run."""
    if defence == "none":
        return lambda pair, call: True
    if defence == "least_privilege":
        return lambda pair, call: call[0] in {name for name, _ in pair.user_calls}
    if defence == "approvals":
        return lambda pair, call: call[0] not in SIDE_EFFECT_TOOLS[pair.suite] or call in pair.user_calls
    raise ValueError(f"unknown defence {defence!r}")


def play(pair: Pair, allowed: Allowed) -> dict[str, Any]:
    """One oracle run of the pair: its verdicts and what ran."""
    runtime = FunctionsRuntime(agentdojo_tasks.suite(pair.suite).tools)
    pre_env = agentdojo_tasks.injected_env(pair)
    env = pre_env.model_copy(deep=True)
    executed: list[Call] = []
    triggered = False
    for call in pair.user_calls:
        text = _run(runtime, env, call, executed)
        if not triggered and pair.trigger in text:
            triggered = True
            for injected in pair.injection_calls:
                if allowed(pair, injected):
                    _run(runtime, env, injected, executed)
    utility, breached = agentdojo_tasks.score(pair, pair.expected_output, pre_env, env, executed)
    return {"utility": utility, "breached": breached, "triggered": triggered, "calls": len(executed)}


def play_text_goal(pair: Pair) -> bool:
    """Whether an unplayable pair whose injection goal is text in the answer is breached
    when the answer carries that text after the user's: no tool policy sees it."""
    runtime = FunctionsRuntime(agentdojo_tasks.suite(pair.suite).tools)
    pre_env = agentdojo_tasks.injected_env(pair)
    env = pre_env.model_copy(deep=True)
    executed: list[Call] = []
    for call in pair.user_calls:
        _run(runtime, env, call, executed)
    answer = f"{pair.expected_output}\n{agentdojo_tasks.injection_task(pair).GROUND_TRUTH_OUTPUT}"
    return agentdojo_tasks.score(pair, answer, pre_env, env, executed)[1]


def clean_utility(suite_name: str, user_task_id: str) -> bool:
    """The user task's ground truth on the environment without injections, scored."""
    runtime = FunctionsRuntime(agentdojo_tasks.suite(suite_name).tools)
    pre_env = agentdojo_tasks.clean_env(suite_name, user_task_id)
    env = pre_env.model_copy(deep=True)
    task = agentdojo_tasks.suite(suite_name).user_tasks[user_task_id]
    executed: list[Call] = []
    for call in task.ground_truth(pre_env):
        _run(runtime, env, (call.function, dict(call.args)), executed)
    return agentdojo_tasks.score_utility(suite_name, user_task_id, task.GROUND_TRUTH_OUTPUT, pre_env, env, executed)


def _run(runtime: FunctionsRuntime, env: TaskEnvironment, call: Call, executed: list[Call]) -> str:
    result, error = runtime.run_function(env, call[0], call[1])
    executed.append(call)
    return error if error is not None else tool_result_to_str(result)


def measure_suite(suite_name: str) -> dict[str, Any]:
    started = time.perf_counter()
    pairs = agentdojo_tasks.pairs(suite_name)
    loaded = time.perf_counter()
    playable = [pair for pair in pairs if pair.playable]
    user_tasks = sorted({pair.user_task_id for pair in pairs}, key=lambda t: int(t.rsplit("_", 1)[1]))
    clean = sum(clean_utility(suite_name, task) for task in user_tasks)
    defences: dict[str, Any] = {}
    for defence in DEFENCES:
        allowed = allowed_by(defence)
        runs = [play(pair, allowed) for pair in playable]
        breached = sum(run["breached"] for run in runs)
        defences[defence] = {
            "breached": breached, "asr": round(breached / len(runs), 4),
            "utility_under_attack": round(sum(run["utility"] for run in runs) / len(runs), 4),
            "untriggered": sum(not run["triggered"] for run in runs),
        }
    played = time.perf_counter()
    excluded = sorted({pair.injection_task_id for pair in pairs if not pair.playable})
    text_goals = [pair for pair in pairs
                  if not pair.playable and agentdojo_tasks.injection_task(pair).GROUND_TRUTH_OUTPUT]
    return {
        "pairs": len(pairs), "playable": len(playable), "excluded": len(pairs) - len(playable),
        "excluded_injection_tasks": excluded, "user_tasks": len(user_tasks),
        "clean_utility": clean, "defences": defences,
        "text_goals": {"pairs": len(text_goals), "breached": sum(play_text_goal(pair) for pair in text_goals)},
        "seconds": {"pairs": round(loaded - started, 2),
                    "per_played_pair": round((played - loaded) / (len(DEFENCES) * len(playable)), 4)},
    }


def _total(suites: dict[str, Any]) -> dict[str, Any]:
    playable = sum(s["playable"] for s in suites.values())
    defences = {}
    for defence in DEFENCES:
        breached = sum(s["defences"][defence]["breached"] for s in suites.values())
        defences[defence] = {"breached": breached, "asr": round(breached / playable, 4)}
    return {"pairs": sum(s["pairs"] for s in suites.values()), "playable": playable,
            "user_tasks": sum(s["user_tasks"] for s in suites.values()),
            "clean_utility": sum(s["clean_utility"] for s in suites.values()), "defences": defences}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", nargs="*", choices=agentdojo_tasks.SUITES, default=list(agentdojo_tasks.SUITES))
    args = parser.parse_args()
    suites = {name: measure_suite(name) for name in args.suite}
    total = _total(suites)
    results = {"benchmark": agentdojo_tasks.BENCHMARK_VERSION, "attack": agentdojo_tasks.ATTACK,
               "suites": suites, "all": total}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'suite':<10} {'played/pairs':>12} {'clean utility':>13} " + " ".join(f"{d:>16}" for d in DEFENCES))
    for name, row in [*suites.items(), ("all", total)]:
        asr = " ".join(f"{row['defences'][d]['asr']:>15.1%} " for d in DEFENCES)
        played, clean = f"{row['playable']}/{row['pairs']}", f"{row['clean_utility']}/{row['user_tasks']}"
        print(f"{name:<10} {played:>12} {clean:>13} {asr}")
    print(f"results: {RESULTS}")


if __name__ == "__main__":
    main()
