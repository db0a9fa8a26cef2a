"""What an MCP server says its tools are, pinned: canonical definitions, their
hashes, and the safety the runtime enforces for each.

A tool's definition is its name, description, input schema and annotations,
hashed as RFC 8785 canonical JSON. The operator approves a server's whole set
(the hash of {tool: definition hash}); any later difference is a change that
needs a new approval. Annotations come from a server we may not trust, so they
can only make a tool safer: a tool is reversible (runs without an approval)
only if it says `readOnlyHint: true` or an operator override says so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mcp import types

from aos_common.canonical import canonical_json, sha256_hex
from aos_common.errors import InvalidArgument
from kernel_svc import untrusted
from kernel_svc.tools.registry import BLAST_RADII

PREFIX = "mcp."
# With the server name (aos_common.capabilities.SERVER_NAME_PATTERN) this keeps
# mcp.<server>.<tool> within the 128 characters a capability name may have.
TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,56}$")
MAX_DESCRIPTION_CHARS = 8 * 1024
MAX_SCHEMA_BYTES = 64 * 1024
MAX_TOOLS = 256


def qualified(server: str, tool: str) -> str:
    """The name agents and tokens use: mcp.<server>.<tool>."""
    return f"{PREFIX}{server}.{tool}"


def server_prefix(server: str) -> str:
    return f"{PREFIX}{server}."


@dataclass(frozen=True)
class Definition:
    name: str
    description: str
    input_schema: dict[str, Any]
    annotations: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema,
                "annotations": self.annotations}

    @property
    def hash(self) -> str:
        return sha256_hex(canonical_json(self.to_json()))

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Definition:
        return cls(str(value["name"]), str(value["description"]), dict(value["input_schema"]),
                   dict(value["annotations"]))

    def findings(self) -> list[str]:
        """Injection-detector patterns in anything the model would read: the
        description and every string in the schema and annotations."""
        text = "\n".join([self.description, *_strings(self.input_schema), *_strings(self.annotations)])
        return untrusted.scan(text)


class BadListing(Exception):
    """A server's tool list the runtime will not take (names, sizes, schemas)."""


def from_listing(tools: Iterable[types.Tool]) -> dict[str, Definition]:
    """The definitions a server listed, refused whole when one is unusable: a
    set with a silently dropped tool would not be the set the operator reviews."""
    found: dict[str, Definition] = {}
    for tool in tools:
        if not TOOL_NAME.match(tool.name):
            raise BadListing(f"tool name {tool.name[:80]!r} is not usable (letters, digits, _ . - up to 56)")
        if tool.name in found:
            raise BadListing(f"tool {tool.name} is listed twice")
        description = tool.description or ""
        if len(description) > MAX_DESCRIPTION_CHARS:
            raise BadListing(f"the description of {tool.name} is over {MAX_DESCRIPTION_CHARS} characters")
        schema = dict(tool.input_schema or {"type": "object"})
        if len(json.dumps(schema)) > MAX_SCHEMA_BYTES:
            raise BadListing(f"the input schema of {tool.name} is over {MAX_SCHEMA_BYTES} bytes")
        annotations = tool.annotations.model_dump(by_alias=True, exclude_none=True) if tool.annotations else {}
        found[tool.name] = Definition(tool.name, description, schema, annotations)
        if len(found) > MAX_TOOLS:
            raise BadListing(f"the server lists more than {MAX_TOOLS} tools")
    return found


def set_hash(definitions: Mapping[str, Definition]) -> str:
    """The hash an operator approves: every tool's name and definition hash."""
    return sha256_hex(canonical_json({name: d.hash for name, d in definitions.items()}))


@dataclass(frozen=True)
class Override:
    """An operator's word on a tool, which wins over its annotations."""

    reversible: bool | None = None
    blast_radius: str | None = None
    idempotent: bool | None = None
    open_world: bool | None = None

    def __post_init__(self) -> None:
        if self.blast_radius is not None and self.blast_radius not in BLAST_RADII:
            raise InvalidArgument(f"blast_radius must be one of {', '.join(BLAST_RADII)}")

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in (("reversible", self.reversible), ("blast_radius", self.blast_radius),
                                  ("idempotent", self.idempotent), ("open_world", self.open_world)) if v is not None}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Override:
        return cls(value.get("reversible"), value.get("blast_radius"), value.get("idempotent"),
                   value.get("open_world"))


@dataclass(frozen=True)
class Safety:
    reversible: bool
    blast_radius: str
    idempotent: bool
    # Reaches outside the runtime: a consequential tool for the provenance rule.
    open_world: bool = True


def effective_safety(annotations: Mapping[str, Any], override: Override | None = None) -> Safety:
    """The table in docs/TOOL_SERVERS.md: read-only tools run freely (blast radius
    low, idempotent if the server also says so); everything else waits for an
    approval bound to its args (reversible=False, blast radius high) and runs at
    most once. A tool is open-world unless it says `openWorldHint: false` (MCP's
    default is true). An operator override replaces any of the four."""
    read_only = annotations.get("readOnlyHint") is True
    reversible = read_only
    idempotent = read_only and annotations.get("idempotentHint") is True
    open_world = annotations.get("openWorldHint") is not False
    if override is not None:
        reversible = override.reversible if override.reversible is not None else reversible
        idempotent = override.idempotent if override.idempotent is not None else idempotent
        open_world = override.open_world if override.open_world is not None else open_world
        blast_radius = override.blast_radius or ("low" if reversible else "high")
    else:
        blast_radius = "low" if reversible else "high"
    return Safety(reversible, blast_radius, idempotent, open_world)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for k, v in value.items() for s in (str(k), *_strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []
