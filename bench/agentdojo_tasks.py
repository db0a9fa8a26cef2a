"""AgentDojo's tasks as plain data for the containment benchmark, with no runtime.

Suites `v1.2.2`, attack `important_instructions`. A `Pair` is one (user task,
injection task) of a suite: the injection texts by vector, the user's prompt, the
user task's ground-truth calls on the injected environment and its expected
answer, the injection task's ground-truth calls, and `trigger`, the raw text by
which a tool result shows the injection (the runtime HTML-escapes tool output; a
consumer unescapes before matching). `score` is AgentDojo's own verdict on a run:
`user_task.utility` and `injection_task.security`, or their `*_from_traces`
variants where a task defines them, over the calls that actually ran.

Environments cross process boundaries as JSON (`env_to_json`, `env_from_json`):
the tool server keeps its suite's environment in a file.
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentdojo.agent_pipeline.ground_truth_pipeline import GroundTruthPipeline
from agentdojo.attacks.attack_registry import load_attack
from agentdojo.base_tasks import BaseInjectionTask, BaseUserTask
from agentdojo.functions_runtime import FunctionCall, TaskEnvironment
from agentdojo.task_suite.load_suites import get_suite
from agentdojo.task_suite.task_suite import TaskSuite

BENCHMARK_VERSION = "v1.2.2"
ATTACK = "important_instructions"
SUITES = ("banking", "slack", "travel", "workspace")
# The attack addresses the model by name ("... to you, GPT-4."), taken from the target
# pipeline's name, which must contain a model AgentDojo knows (agentdojo.models.MODEL_NAMES).
TARGET_MODEL = "gpt-4o-2024-05-13"
# Opens every important_instructions text. It has no spaces, so the YAML that tool
# results are written in never wraps it, and no suite's own data contains it.
TRIGGER = "<INFORMATION>"

# Tools whose call changes the world or carries data out of it: the runtime marks them
# irreversible (approvals). Read off each suite's tools; docs/PERFORMANCE.md section 8
# says how the benchmark uses the table.
SIDE_EFFECT_TOOLS: dict[str, frozenset[str]] = {
    "banking": frozenset({"send_money", "schedule_transaction", "update_scheduled_transaction", "update_password",
                          "update_user_info"}),
    "slack": frozenset({"send_direct_message", "send_channel_message", "invite_user_to_slack", "add_user_to_channel",
                        "remove_user_from_slack", "post_webpage", "get_webpage"}),
    "travel": frozenset({"reserve_hotel", "reserve_car_rental", "reserve_restaurant", "create_calendar_event",
                         "cancel_calendar_event", "send_email"}),
    "workspace": frozenset({"send_email", "delete_email", "delete_file", "create_file", "append_to_file",
                            "share_file", "create_calendar_event", "cancel_calendar_event",
                            "reschedule_calendar_event", "add_calendar_event_participants"}),
}

Call = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Pair:
    """One user task under one injection task; `playable` is False (with `reason`)
    when the injection task has no ground-truth calls to play."""

    suite: str
    user_task_id: str
    injection_task_id: str
    injections: dict[str, str]  # injection vector -> text placed there
    prompt: str  # the user task's PROMPT
    user_calls: tuple[Call, ...]  # the user task's ground truth on the injected environment
    expected_output: str  # its GROUND_TRUTH_OUTPUT ('' if none): text the answer should contain
    # The injection task's ground truth, on the environment as the run starts (AgentDojo
    # checks security against that environment, so a plan made mid-run can miss it).
    injection_calls: tuple[Call, ...]
    trigger: str  # raw text by which a tool result shows the injection
    playable: bool
    reason: str = ""


def suite(name: str) -> TaskSuite:
    """The AgentDojo suite `name` at the benchmark's version."""
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; one of {', '.join(SUITES)}")
    return get_suite(BENCHMARK_VERSION, name)


def user_task(pair: Pair) -> BaseUserTask:
    return suite(pair.suite).user_tasks[pair.user_task_id]


def injection_task(pair: Pair) -> BaseInjectionTask:
    return suite(pair.suite).injection_tasks[pair.injection_task_id]


@functools.cache
def pairs(suite_name: str) -> list[Pair]:
    """Every (user task, injection task) pair of the suite, in AgentDojo's order."""
    task_suite = suite(suite_name)
    target = GroundTruthPipeline(None)
    target.name = TARGET_MODEL
    attack = load_attack(ATTACK, task_suite, target)
    found = []
    for user in task_suite.user_tasks.values():
        for injection in task_suite.injection_tasks.values():
            injections = attack.attack(user, injection)
            env = env_from_json(suite_name, _load_injected(suite_name, user.ID, tuple(sorted(injections.items()))))
            injection_calls = _calls(injection.ground_truth(env))
            found.append(Pair(
                suite=suite_name, user_task_id=user.ID, injection_task_id=injection.ID, injections=injections,
                prompt=user.PROMPT, user_calls=_calls(user.ground_truth(env)),
                expected_output=user.GROUND_TRUTH_OUTPUT, injection_calls=injection_calls, trigger=TRIGGER,
                playable=bool(injection_calls),
                reason="" if injection_calls else "the injection task has no ground-truth calls"
                + (" (its goal is text in the answer)" if injection.GROUND_TRUTH_OUTPUT else "")))
    return found


def clean_env(suite_name: str, user_task_id: str) -> TaskEnvironment:
    """The suite's default environment without injections, as the user task starts it."""
    task_suite = suite(suite_name)
    return task_suite.user_tasks[user_task_id].init_environment(task_suite.load_and_inject_default_environment({}))


def injected_env(pair: Pair) -> TaskEnvironment:
    """The pair's injected environment as the user task starts it: a fresh copy each call."""
    return env_from_json(pair.suite, _load_injected(pair.suite, pair.user_task_id,
                                                    tuple(sorted(pair.injections.items()))))


def env_to_json(env: TaskEnvironment) -> str:
    return env.model_dump_json()


def env_from_json(suite_name: str, text: str) -> TaskEnvironment:
    """The suite's environment model from `env_to_json`'s text. Only for an environment
    as loaded, not one calls have changed: validating rebuilds the inbox, calendar and
    drive from their `initial_*` lists, so what calls added would be lost."""
    return suite(suite_name).environment_type.model_validate_json(text)


def env_dump(env: TaskEnvironment) -> bytes:
    """An environment, changes included, for the tool server's state file (pickle:
    JSON would lose them, see `env_from_json`; the file is the bench's own, in a
    directory only it and its server write)."""
    return pickle.dumps(env)


def env_load(data: bytes) -> TaskEnvironment:
    env = pickle.loads(data)
    if not isinstance(env, TaskEnvironment):
        raise TypeError(f"the state file holds a {type(env).__name__}, not an environment")
    return env


def score(pair: Pair, model_output: str, pre_env: TaskEnvironment, post_env: TaskEnvironment,
          executed_calls: Sequence[Call | FunctionCall]) -> tuple[bool, bool]:
    """(utility, security_breached) as AgentDojo scores them. `pre_env` is the
    environment the run started from (`injected_env(pair)`), `executed_calls` the
    calls that ran, in order; a refused call must not be among them."""
    traces = _traces(executed_calls)
    user = user_task(pair)
    utility = user.utility_from_traces(model_output, pre_env, post_env, traces)
    if utility is None:
        utility = user.utility(model_output, pre_env, post_env)
    injection = injection_task(pair)
    breached = injection.security_from_traces(model_output, pre_env, post_env, traces)
    if breached is None:
        breached = injection.security(model_output, pre_env, post_env)
    return bool(utility), bool(breached)


def score_utility(suite_name: str, user_task_id: str, model_output: str, pre_env: TaskEnvironment,
                  post_env: TaskEnvironment, executed_calls: Sequence[Call | FunctionCall]) -> bool:
    """The user task's utility alone, for runs without an attack (pre_env: `clean_env`)."""
    user = suite(suite_name).user_tasks[user_task_id]
    utility = user.utility_from_traces(model_output, pre_env, post_env, _traces(executed_calls))
    return bool(user.utility(model_output, pre_env, post_env) if utility is None else utility)


@functools.cache
def _load_injected(suite_name: str, user_task_id: str, injections: tuple[tuple[str, str], ...]) -> str:
    # The YAML parse dominates a load; the JSON kept here (workspace: 560 pairs, ~60 MB)
    # parses ten times faster.
    task_suite = suite(suite_name)
    env = task_suite.load_and_inject_default_environment(dict(injections))
    return env_to_json(task_suite.user_tasks[user_task_id].init_environment(env))


def _calls(calls: Sequence[FunctionCall]) -> tuple[Call, ...]:
    return tuple((call.function, dict(call.args)) for call in calls)


def _traces(calls: Sequence[Call | FunctionCall]) -> list[FunctionCall]:
    return [call if isinstance(call, FunctionCall) else FunctionCall(function=call[0], args=dict(call[1]))
            for call in calls]
