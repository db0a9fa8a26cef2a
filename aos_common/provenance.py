"""Argument provenance: the labels a tool call's argument values carry, shared by
the kernel (which assigns them) and policy (which decides on them).

A label names where a value came from: `trusted` (the task an operator wrote, or
a value an operator supplied), `untrusted:<n>` (it occurs only in tool result n)
or `generated` (it occurs in neither: the model composed or computed it). Only
`trusted` is believed; policy treats the other two alike. Labels are keyed by the
RFC 6901 JSON pointer of each labelled leaf: every non-blank string and every number in
the arguments (booleans, null and blank strings carry no text and are not labelled).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from aos_common.errors import InvalidArgument

TRUSTED = "trusted"
GENERATED = "generated"
UNTRUSTED_PREFIX = "untrusted:"
_UNTRUSTED = re.compile(r"^untrusted:([1-9][0-9]{0,8})$")

# An agent class's rule for consequential tools (not reversible, or open-world).
ALLOW, APPROVE, DENY = "allow", "approve", "deny"
UNTRUSTED_ARGS_MODES = (ALLOW, APPROVE, DENY)
DEFAULT_UNTRUSTED_ARGS = APPROVE

MAX_LABELS = 1000


def untrusted(result_index: int) -> str:
    return f"{UNTRUSTED_PREFIX}{result_index}"


def result_index(label: str) -> int | None:
    """The tool result an `untrusted:<n>` label points at; None for any other label."""
    match = _UNTRUSTED.match(label)
    return int(match.group(1)) if match else None


def is_trusted(label: str) -> bool:
    return label == TRUSTED


def check_label(label: str) -> None:
    if label not in (TRUSTED, GENERATED) and result_index(label) is None:
        raise InvalidArgument(f"provenance label {label[:40]!r} is not trusted, generated or untrusted:<n>")


def pointer(parts: tuple[str | int, ...]) -> str:
    """The RFC 6901 JSON pointer of a path ('' is the whole document)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def leaves(args: Any, parts: tuple[str | int, ...] = ()) -> Iterator[tuple[str, str | int | float]]:
    """(pointer, value) of every labelled leaf: strings and numbers."""
    if isinstance(args, Mapping):
        for key in sorted(args):
            yield from leaves(args[key], (*parts, key))
    elif isinstance(args, list):
        for position, item in enumerate(args):
            yield from leaves(item, (*parts, position))
    elif isinstance(args, str):
        if args.strip():  # an empty or blank string carries nothing
            yield pointer(parts), args
    elif isinstance(args, (int, float)) and not isinstance(args, bool):
        yield pointer(parts), args


def check_labels(labels: Mapping[str, str], args: Any) -> dict[str, str]:
    """Every leaf's label, with a leaf the labels do not name counted as `generated`
    (an unlabelled value is not believed); InvalidArgument for a malformed label or
    a pointer to nothing."""
    if len(labels) > MAX_LABELS:
        raise InvalidArgument(f"at most {MAX_LABELS} provenance labels")
    paths = dict(leaves(args))
    for path, label in labels.items():
        if path not in paths:
            raise InvalidArgument(f"provenance label for {path[:80]!r}, which is no string or number of the args")
        check_label(label)
    return {path: labels.get(path, GENERATED) for path in paths}


def on_chain(labels: Mapping[str, str]) -> list[str]:
    """The labels as a decision record holds them: in the order of their sorted
    pointers, without the pointers (object keys can be data, and the chain holds
    no argument content; whoever has the args, which args_hash binds, can pair them)."""
    return [labels[path] for path in sorted(labels)]


def untrusted_paths(labels: Mapping[str, str]) -> list[str]:
    return sorted(path for path, label in labels.items() if not is_trusted(label))


@dataclass(frozen=True)
class ArgSource:
    """One labelled argument value and where it came from, as operators are shown it."""

    pointer: str
    value: str
    label: str
    result_index: int | None

    @property
    def trusted(self) -> bool:
        return is_trusted(self.label)


def arg_sources(args_canonical: str, labels: Mapping[str, str]) -> list[ArgSource]:
    """Every string and number of the arguments beside its provenance label (an
    unlabelled one as `generated`, as policy counts it)."""
    try:
        args = json.loads(args_canonical)
        checked = check_labels(labels, args)
        values = dict(leaves(args))
    except (ValueError, InvalidArgument):
        return []
    return [ArgSource(path, str(values[path]), label, result_index(label))
            for path, label in sorted(checked.items())]
