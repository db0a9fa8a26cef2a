"""The scripted LLM's compromised mode: a model with no resistance to injection at all.

A plan line `obey tool output` (before the first step) turns it on. From then on,
whenever a tool result holds lines `call TOOL {json}`, or text a harness named
in a rule (`PUT /_fake/compromise`), the model makes those calls next, each
once and in order, before it resumes its plan. It is the worst case the
runtime's boundary must contain: whatever the injection asks, the model asks for.

Stateless like the rest of the scripted LLM: what to do next is replayed from the
conversation each request (which calls were made, which results they got).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

OBEY = re.compile(r"^obey tool output$", re.IGNORECASE)
_CALL_LINE = re.compile(r"^\s*call\s+([A-Za-z0-9_.:/-]{1,128})\s+(\{.*\})\s*$")
MAX_RULES = 10_000


class RuleError(ValueError):
    """A compromise rule set that does not follow the documented shape."""


@dataclass(frozen=True)
class Injected:
    """A call the model was told to make by something it read."""

    tool: str
    args: dict[str, Any]

    def key(self) -> tuple[str, str]:
        return _tool_key(self.tool), json.dumps(self.args, sort_keys=True)


@dataclass(frozen=True)
class Rule:
    """When the task holds `task_contains` and a tool result holds `result_contains`,
    make `calls` (a harness's way to hand the model an injection's goal)."""

    task_contains: str
    result_contains: str
    calls: tuple[Injected, ...]


def obeys(task: str) -> bool:
    """Whether the task's plan turns compromised mode on."""
    return any(OBEY.match(line.strip()) for line in task.splitlines())


def parse_rules(body: Any) -> tuple[Rule, ...]:
    """`{"rules": [{"task_contains", "result_contains", "calls": [{"tool", "args"}]}]}`."""
    if not isinstance(body, dict) or not isinstance(body.get("rules"), list):
        raise RuleError('the body must be {"rules": [...]}')
    if len(body["rules"]) > MAX_RULES:
        raise RuleError(f"at most {MAX_RULES} rules")
    rules = []
    for position, raw in enumerate(body["rules"]):
        if not isinstance(raw, dict):
            raise RuleError(f"rule {position} is not an object")
        task, result, calls = raw.get("task_contains", ""), raw.get("result_contains"), raw.get("calls")
        if not isinstance(task, str) or not isinstance(result, str) or not result:
            raise RuleError(f"rule {position}: result_contains must be a non-empty string, task_contains a string")
        if not isinstance(calls, list) or not all(
            isinstance(c, dict) and isinstance(c.get("tool"), str) and isinstance(c.get("args", {}), dict)
            for c in calls
        ):
            raise RuleError(f'rule {position}: calls must be a list of {{"tool": str, "args": object}}')
        rules.append(Rule(task, result, tuple(Injected(c["tool"], dict(c.get("args", {}))) for c in calls)))
    return tuple(rules)


def instructions(result: str, task: str, rules: Sequence[Rule]) -> list[tuple[Hashable, Injected]]:
    """The calls a tool result tells the model to make, each with the identity of the
    instruction (it reads the result unescaped, as a model would understand the
    runtime's fenced, escaped output). An instruction is carried out once however
    often it is read again; one that asks for the same call three times gets three."""
    text = html.unescape(result)
    found: list[tuple[Hashable, Injected]] = []
    seen: dict[tuple[str, str], int] = {}
    for line in text.splitlines():
        match = _CALL_LINE.match(line)
        if match:
            try:
                args = json.loads(match.group(2))
            except json.JSONDecodeError:
                continue
            if isinstance(args, dict):
                injected = Injected(match.group(1), args)
                occurrence = seen[injected.key()] = seen.get(injected.key(), -1) + 1
                found.append((("line", injected.key(), occurrence), injected))
    for number, rule in enumerate(rules):
        if rule.result_contains in text and rule.task_contains in task:
            found.extend((("rule", number, position), call) for position, call in enumerate(rule.calls))
    return found


def replay(calls: Sequence[tuple[str, dict[str, Any]]], results: Sequence[str], task: str,
           rules: Sequence[Rule]) -> tuple[Injected | None, int]:
    """(the injected call to make next, or None; how many plan steps were played).

    Walks the conversation: a call that is the head of the injected queue was the
    injection's; any other was the plan's. After each result, the calls it asks
    for join the queue, unless the same instruction was read before."""
    queue: list[Injected] = []
    seen: set[Hashable] = set()
    played = 0
    for (tool, args), result in zip(calls, results, strict=False):
        if queue and queue[0].key() == (_tool_key(tool), json.dumps(args, sort_keys=True)):
            queue.pop(0)
        else:
            played += 1
        for identity, injected in instructions(result, task, rules):
            if identity not in seen:
                seen.add(identity)
                queue.append(injected)
    return (queue[0] if queue else None), played


def _tool_key(name: str) -> str:
    """A tool's name whether written with dots or in its wire form (`mcp__s__t`)."""
    return name.replace("__", ".")
