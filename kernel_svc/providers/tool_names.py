"""Our dotted tool names (`fs.read_file`) on provider wires that only allow `^[a-zA-Z0-9_-]{1,64}$`.

Each "." becomes "__" on the wire (`fs__read_file`) and back. The mapping is reversible only when a
name's dot-separated parts neither contain "__" nor start or end with "_" (then every "__" on the
wire is a separator), so other names are refused when a tool is offered to a model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from kernel_svc.providers.base import ToolDef

_PART = re.compile(r"[a-zA-Z0-9-]+(?:_[a-zA-Z0-9-]+)*")
_WIRE_MAX = 64


def encode_tool_name(name: str) -> str:
    """The wire name for `name`; ValueError if the name cannot round-trip."""
    parts = name.split(".")
    if not all(_PART.fullmatch(part) for part in parts):
        raise ValueError(
            f"tool name {name!r} cannot be sent to a model: each dot-separated part must be letters, "
            "digits, '-' or single inner '_'"
        )
    wire = "__".join(parts)
    if len(wire) > _WIRE_MAX:
        raise ValueError(f"tool name {name!r} is longer than {_WIRE_MAX} characters on the wire")
    return wire


def decode_tool_name(wire: str) -> str:
    """Our name for a wire name a model returned. Unknown names are the caller's to refuse."""
    return wire.replace("__", ".")


def function_tools(tools: Sequence[ToolDef]) -> list[dict[str, Any]]:
    """Tools in the `{"type": "function", ...}` shape OpenAI and Ollama share, with wire names."""
    return [
        {
            "type": "function",
            "function": {"name": encode_tool_name(t.name), "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]
