"""The tool registry: what each tool is called, what arguments it takes (a JSON
schema, checked before Authorize) and how dangerous it is. Policy receives these
declarations at kernel start and decides from its own copy which calls need an
operator's approval."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import jsonschema

from aos_common.capabilities import allows, normalize
from aos_common.errors import InvalidArgument

BLAST_RADII = ("low", "medium", "high")


class ToolError(Exception):
    """An expected failure of a tool (file not found, path refused): the model sees the message."""


class ChildSpawner(Protocol):
    async def spawn_child(self, agent_class: str, task: str, grants: list[str]) -> str: ...


@dataclass(frozen=True)
class ToolContext:
    """What a running tool may use: the workspace root, the agent's grants (a tool may
    depend on another being held) and, for agents.spawn, a way to spawn."""

    workspace: Path
    agent_id: str
    session_id: str
    children: ChildSpawner | None = None
    grants: tuple[str, ...] = ()
    # A sandboxed tool's resource limits as policy allowed them for this call.
    limits: Mapping[str, float] = field(default_factory=dict)


ToolFunction = Callable[[Mapping[str, Any], ToolContext], Awaitable[str]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    reversible: bool
    blast_radius: str
    # Safe to run again after a crash. Non-idempotent tools run at most once per
    # allowed syscall (kernel.tool_executions).
    idempotent: bool
    run: ToolFunction = field(repr=False, compare=False)
    # Pinned tools (MCP): the hash of the definition their server presents now,
    # which policy compares with the approved one before every call.
    presented_definition: Callable[[], str] | None = field(default=None, repr=False, compare=False)
    # ... and the hash of the definition an operator approved, which policy pins.
    definition_hash: str = ""
    # Sandboxed tools: the resource limits a call with these arguments asks for;
    # policy lowers them to the agent class's ceilings (aos_common/resource_limits.py).
    limits: Callable[[Mapping[str, Any]], dict[str, float]] | None = field(default=None, repr=False, compare=False)
    # Reaches outside the runtime (MCP openWorldHint): policy's provenance rule
    # then applies to it even when it is reversible.
    open_world: bool = False
    _validator: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.blast_radius not in BLAST_RADII:
            raise ValueError(f"{self.name}: blast_radius must be one of {BLAST_RADII}")
        jsonschema.Draft202012Validator.check_schema(self.parameters)
        object.__setattr__(self, "_validator", jsonschema.Draft202012Validator(self.parameters))

    def validate(self, args: Any) -> None:
        """Refuse arguments that do not match the schema, naming the first problem."""
        error = jsonschema.exceptions.best_match(self._validator.iter_errors(args))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "arguments"
            raise InvalidArgument(f"invalid arguments for {self.name} at {where}: {error.message}")

    def presented_definition_hash(self) -> str:
        return self.presented_definition() if self.presented_definition is not None else ""

    def requested_limits(self, args: Mapping[str, Any]) -> dict[str, float]:
        return self.limits(args) if self.limits is not None else {}

    @property
    def args_schema_json(self) -> str:
        return json.dumps(self.parameters, sort_keys=True)


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool] = ()):
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name} registered twice")
        self._tools[tool.name] = tool

    def replace_prefix(self, prefix: str, tools: Iterable[Tool]) -> None:
        """Swap every tool named `prefix*` for `tools` (a tool server's approved set)."""
        kept = {name: tool for name, tool in self._tools.items() if not name.startswith(prefix)}
        for tool in tools:
            if not tool.name.startswith(prefix) or tool.name in kept:
                raise ValueError(f"tool {tool.name} does not belong under {prefix}")
            kept[tool.name] = tool
        self._tools = kept

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def all(self) -> list[Tool]:
        return list(self._tools.values())

    def granted(self, grants: Iterable[str]) -> list[Tool]:
        """The tools an agent holding `grants` is shown, `mcp.<server>.*` showing all
        of that server's (policy still decides every call)."""
        held = normalize(grants)
        return [tool for name, tool in self._tools.items() if allows(held, name)]
