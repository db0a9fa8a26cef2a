"""Where a tool call's argument values came from: the labels the kernel sends
policy with every tool call (aos_common/provenance.py has the vocabulary).

A taint heuristic, not a proof. A leaf is `trusted` when it occurs in the task
an operator wrote (for a child agent: its root agent's task, since a parent
writes its children's tasks), `untrusted:<n>` when it occurs in tool result n
and not there, `generated` when it occurs in neither. "Occurs" means: after
Unicode NFKC folding, case folding and collapsing whitespace, the value appears
in the text as a whole token run (not inside a longer word or number); a number
also occurs where the text writes the same number (`100`, `100.0`, `1,000`).
What it cannot see: a value the model paraphrased, translated, re-encoded or
computed from tool output is `generated`, not linked to its result; and a value
an operator happened to write in the task stays trusted even when an injection
supplies it too. docs/PROVENANCE.md states the rule and its limits for users.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aos_common import provenance
from kernel_svc.providers.base import Message

_RESULT_HEADER = re.compile(r"^\[result (\d+)\]")
_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?![\w])")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """The form values and texts are compared in."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


@dataclass(frozen=True)
class Sources:
    """The texts a call's values are looked up in, already normalised."""

    trusted: str
    results: tuple[tuple[int, str], ...]


class SourceCache:
    """The sources of one agent's run, each text normalised once: a tool result is
    added the first time a call is labelled after it, not again for every call."""

    def __init__(self, trusted_task: str):
        self._trusted = normalise(trusted_task)
        self._results: dict[int, str] = {}

    def sources(self, messages: Sequence[Message]) -> Sources:
        """The task an operator wrote, and every numbered tool result the model has seen
        (unescaped, as the model read it inside its untrusted fence)."""
        for message in messages:
            header = _RESULT_HEADER.match(message.content) if message.role == "tool" else None
            if header and int(header.group(1)) not in self._results:
                self._results[int(header.group(1))] = normalise(html.unescape(message.content))
        return Sources(self._trusted, tuple(sorted(self._results.items())))


def label(args: Mapping[str, Any], sources: Sources) -> dict[str, str]:
    """The label of every labelled leaf of `args`, keyed by its JSON pointer."""
    labels = {}
    for path, value in provenance.leaves(args):
        found = _finder(value)
        if found(sources.trusted):
            labels[path] = provenance.TRUSTED
            continue
        origin = next((index for index, text in sources.results if found(text)), None)
        labels[path] = provenance.untrusted(origin) if origin is not None else provenance.GENERATED
    return labels


def operator_supplied(args: Mapping[str, Any]) -> dict[str, str]:
    """Labels for a call an operator made (InvokeTool): every value is the operator's."""
    return {path: provenance.TRUSTED for path, _ in provenance.leaves(args)}


def linked_results(labels: Mapping[str, str]) -> set[int]:
    """The tool results the labels point at."""
    return {index for index in map(provenance.result_index, labels.values()) if index is not None}


def _finder(value: str | int | float) -> Callable[[str], bool]:
    """A test for whether a text holds `value` as a whole token run."""
    if isinstance(value, str):
        needle = normalise(value)
        if not needle:
            return lambda text: False
        before = r"(?<!\w)" if needle[0].isalnum() else ""
        after = r"(?!\w)" if needle[-1].isalnum() else ""
        pattern = re.compile(before + re.escape(needle) + after)
        return lambda text: pattern.search(text) is not None
    return lambda text: any(_same_number(token, value) for token in _NUMBER.findall(text))


def _same_number(token: str, value: int | float) -> bool:
    try:
        return float(token.replace(",", "")) == float(value)
    except ValueError:
        return False
