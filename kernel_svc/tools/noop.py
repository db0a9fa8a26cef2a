"""`sys.noop`: a tool with no effect, so the cost of the syscall boundary itself can be measured."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kernel_svc.tools.registry import Tool, ToolContext


async def noop(args: Mapping[str, Any], ctx: ToolContext) -> str:
    return "ok"


def noop_tools() -> list[Tool]:
    return [
        Tool(
            name="sys.noop",
            description="Do nothing and return 'ok' (for measuring the governed call path).",
            parameters={"type": "object", "properties": {}, "additionalProperties": False},
            reversible=True,
            blast_radius="low",
            idempotent=True,
            run=noop,
        ),
    ]
