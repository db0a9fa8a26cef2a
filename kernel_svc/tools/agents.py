"""`agents.spawn`: start a child agent in the parent's session.

The child's token is minted by policy from the *parent's* token, so its grants
are the intersection of what the parent holds and what it asks for; an empty
intersection is refused before the child exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aos_common.errors import AosError
from kernel_svc.tools.registry import Tool, ToolContext, ToolError


async def spawn(args: Mapping[str, Any], ctx: ToolContext) -> str:
    if ctx.children is None:
        raise ToolError("spawning is not available here")
    try:
        child_id = await ctx.children.spawn_child(str(args["agent_class"]), str(args["task"]), list(args["grants"]))
    except AosError as error:
        if error.reason == "UNAVAILABLE":
            raise
        raise ToolError(f"spawn refused: {error.reason}: {error.message}") from None
    return f"spawned child agent {child_id} (class {args['agent_class']}) in session {ctx.session_id}"


def spawn_tool() -> Tool:
    return Tool(
        name="agents.spawn",
        description="Start a child agent in this session with a subset of your grants; returns its id.",
        parameters={
            "type": "object",
            "properties": {
                "agent_class": {"type": "string", "minLength": 1, "maxLength": 128},
                "task": {"type": "string", "minLength": 1, "maxLength": 65536},
                "grants": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1, "maxLength": 128},
                    "minItems": 1,
                    "maxItems": 64,
                },
            },
            "required": ["agent_class", "task", "grants"],
            "additionalProperties": False,
        },
        reversible=True,
        blast_radius="medium",
        idempotent=False,
        run=spawn,
    )
