"""Capability sets and their narrowing. Pure functions, no keys.

A capability set is a set of names (tool names such as `fs.read_file`, operator
permissions such as `approvals.decide`, backend names). `*` stands for every
name and appears only in the bootstrap operator token. `mcp.<server>.*` stands
for every tool of one MCP tool server (`mcp.<server>.<tool>`); it is the only
other name that may contain `*`, and `check_grants` refuses any other.

Every operation here is exact over what the sets mean, not over their strings:
`intersect` allows exactly the names both sets allow, and `is_subset` holds
exactly when every name the child allows the parent allows too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aos_common.errors import InvalidArgument

WILDCARD = "*"
# An MCP tool server's name. No dots, so the server of `mcp.<server>.<tool>` is
# always the segment after `mcp.`, whatever the tool itself is called.
SERVER_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
MCP_PREFIX = "mcp."
SERVER_PATTERN_SUFFIX = ".*"
# The LLM backends an agent class may name and a token may allow.
LLM_BACKENDS = ("anthropic", "openai", "ollama")

# Operator permissions checked by the services (besides tool names).
PERM_APPROVALS_READ = "approvals.read"
PERM_APPROVALS_DECIDE = "approvals.decide"
PERM_AUDIT_READ = "audit.read"
PERM_CLASSES_WRITE = "classes.write"
PERM_TOKENS_ADMIN = "tokens.admin"
PERM_AGENTS_SPAWN = "agents.spawn"
PERM_AGENTS_READ = "agents.read"
PERM_TOOLS_INVOKE = "tools.invoke"
PERM_TOOLS_MANAGE = "tools.manage"


def is_server_name(name: str) -> bool:
    """Whether `name` may name an MCP tool server (and so appear in `mcp.<server>.*`)."""
    return SERVER_NAME_PATTERN.fullmatch(name) is not None


def is_server_pattern(name: str) -> bool:
    """Whether `name` is `mcp.<server>.*` for a valid server name."""
    return (name.startswith(MCP_PREFIX) and name.endswith(SERVER_PATTERN_SUFFIX)
            and is_server_name(name[len(MCP_PREFIX):-len(SERVER_PATTERN_SUFFIX)]))


def _server_pattern_over(name: str) -> str | None:
    """The `mcp.<server>.*` that covers `name`, when `name` is `mcp.<server>.<tool>`."""
    if not name.startswith(MCP_PREFIX):
        return None
    server, dot, tool = name[len(MCP_PREFIX):].partition(".")
    if not (dot and tool and is_server_name(server)):
        return None
    return MCP_PREFIX + server + SERVER_PATTERN_SUFFIX


def normalize(names: Iterable[str]) -> frozenset[str]:
    return frozenset(n.strip() for n in names if n and n.strip())


def check_grants(names: Iterable[str]) -> None:
    """Refuse a grant that uses `*` other than alone or as `mcp.<server>.*`.

    Anything else with a `*` in it (`fs.*`, `mcp.*`, `mcp.a*.x`) would read as a
    pattern to a person and match nothing but itself here, so it is refused
    wherever grants are accepted rather than silently granting less than meant.
    """
    for name in normalize(names):
        if WILDCARD in name and name != WILDCARD and not is_server_pattern(name):
            raise InvalidArgument(
                f"grant {name[:64]!r} is not valid: '*' may appear only alone or as 'mcp.<server>.*', "
                f"where <server> matches {SERVER_NAME_PATTERN.pattern}"
            )


def allows(held: Iterable[str], name: str) -> bool:
    """Whether `held` allows `name`: `*`, `name` itself, or `mcp.<server>.*` over it."""
    held_set = held if isinstance(held, frozenset) else normalize(held)
    if WILDCARD in held_set or name in held_set:
        return True
    pattern = _server_pattern_over(name)
    return pattern is not None and pattern in held_set


def intersect(held: Iterable[str], requested: Iterable[str]) -> frozenset[str]:
    """What a holder of `held` may pass on when `requested` is asked for.

    The result allows exactly the names both allow, so it is never broader than
    `held`: a wildcard request takes exactly what is held; a wildcard holder
    grants exactly what is requested; otherwise each name or pattern of either
    side is kept when both sides allow all of it. A pattern requested against
    exact grants yields those grants; it never widens past them.
    """
    held_set, requested_set = normalize(held), normalize(requested)
    if WILDCARD in requested_set:
        return held_set
    if WILDCARD in held_set:
        return requested_set
    # A pattern allows a name it covers, and itself read as a name: so "both
    # allow the entry" is "both allow everything the entry stands for".
    return frozenset(n for n in held_set | requested_set if allows(held_set, n) and allows(requested_set, n))


def is_subset(child: Iterable[str], parent: Iterable[str]) -> bool:
    """Whether every name `child` allows, `parent` allows too."""
    parent_set = normalize(parent)
    return all(allows(parent_set, name) for name in normalize(child))
