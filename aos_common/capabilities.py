"""Capability sets and their narrowing. Pure functions, no keys.

A capability set is a set of names (tool names such as `fs.read_file`, operator
permissions such as `approvals.decide`, backend names). `*` stands for every
name and appears only in the bootstrap operator token.
"""

from __future__ import annotations

from collections.abc import Iterable

WILDCARD = "*"
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


def normalize(names: Iterable[str]) -> frozenset[str]:
    return frozenset(n.strip() for n in names if n and n.strip())


def intersect(held: Iterable[str], requested: Iterable[str]) -> frozenset[str]:
    """What a holder of `held` may pass on when `requested` is asked for.

    The result is always a subset of `held` (with `*` read as everything):
    a wildcard request takes exactly what is held; a wildcard holder grants
    exactly what is requested.
    """
    held_set, requested_set = normalize(held), normalize(requested)
    if WILDCARD in requested_set:
        return held_set
    if WILDCARD in held_set:
        return requested_set
    return held_set & requested_set


def allows(held: Iterable[str], name: str) -> bool:
    held_set = held if isinstance(held, frozenset) else normalize(held)
    return WILDCARD in held_set or name in held_set


def is_subset(child: Iterable[str], parent: Iterable[str]) -> bool:
    parent_set = normalize(parent)
    if WILDCARD in parent_set:
        return True
    return normalize(child) <= parent_set
