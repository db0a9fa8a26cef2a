"""`mcp.<server>.*` grants: allows, intersect and is_subset are exact over what
the sets mean, and a `*` used any other way is refused where grants enter.

The reference meaning below is written apart from aos_common/capabilities.py on
purpose: the property tests hold the implementation to it over a universe of
names that includes a tool of each server no generated set names exactly, so a
pattern can never be mistaken for the exact names it happens to cover.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aos.v1 import agents_pb2, tokens_pb2
from aos_common.capabilities import (
    SERVER_NAME_PATTERN,
    WILDCARD,
    allows,
    check_grants,
    intersect,
    is_server_name,
    is_subset,
)
from aos_common.errors import InvalidArgument
from aos_common.tokens import Claims
from gateway.grants import clamp
from kernel_svc.service import validate_spawn
from kernel_svc.tools.registry import Tool, ToolContext, ToolRegistry
from policy_svc.classes import AgentClass

SERVERS = ("git", "git-x", "a")
TOOLS = ("git_status", "git_reset", "b.c")
# Names no generated set holds exactly: only `*` or a server's pattern allows them.
UNSEEN_TOOL = "zz_unseen"
UNSEEN_NAME = "zz.unseen"
EXACT = [f"mcp.{s}.{t}" for s in SERVERS for t in TOOLS] + ["fs.read_file", "agents.spawn"]
PATTERNS = [f"mcp.{s}.*" for s in SERVERS]
# Strings that look like patterns and are not: each stands only for itself.
NOT_PATTERNS = ["fs.*", "mcp.*", "mcp.a*.x", "mcp.a.b.*", "mcp.Git.*", "mcp..*", "mcp.git."]
ENTRIES = st.sampled_from([*EXACT, *PATTERNS, *NOT_PATTERNS, WILDCARD, " mcp.git.* ", ""])
# Lists: a frozenset is taken as already normalized (a token's claims are), a list is not.
SETS = st.lists(ENTRIES, max_size=6)
UNIVERSE = sorted({*EXACT, *PATTERNS, *NOT_PATTERNS, WILDCARD, UNSEEN_NAME,
                   *(f"mcp.{s}.{UNSEEN_TOOL}" for s in SERVERS)})
REFERENCE_PATTERN = re.compile(r"mcp\.[a-z0-9][a-z0-9_-]{0,62}\.\*")


def means(entry: str, name: str) -> bool:
    """Whether one grant entry stands for `name`: the reference definition."""
    if entry == WILDCARD:
        return True
    if REFERENCE_PATTERN.fullmatch(entry):
        prefix = entry[:-1]
        return name.startswith(prefix) and len(name) > len(prefix)
    return entry == name


def meant(grants: Iterable[str], name: str) -> bool:
    return any(means(entry.strip(), name) for entry in grants if entry.strip())


@settings(max_examples=1500, deadline=None)
@given(held=SETS)
def test_allows_is_the_reference_meaning(held: list[str]) -> None:
    for name in UNIVERSE:
        assert allows(held, name) == meant(held, name), name


@settings(max_examples=3000, deadline=None)
@given(held=SETS, requested=SETS)
def test_intersection_allows_exactly_what_both_allow(held: list[str], requested: list[str]) -> None:
    granted = intersect(held, requested)
    for name in UNIVERSE:
        assert allows(granted, name) == (allows(held, name) and allows(requested, name)), name
    assert is_subset(granted, held)
    assert is_subset(granted, requested)


@settings(max_examples=3000, deadline=None)
@given(child=SETS, parent=SETS)
def test_is_subset_is_the_reference_meaning(child: list[str], parent: list[str]) -> None:
    expected = all(meant(parent, name) for name in UNIVERSE if meant(child, name))
    assert is_subset(child, parent) == expected


@pytest.mark.parametrize(("held", "requested", "granted"), [
    ({"mcp.git.*"}, {"mcp.git.git_status"}, {"mcp.git.git_status"}),
    ({"mcp.git.git_status"}, {"mcp.git.*"}, {"mcp.git.git_status"}),
    ({"mcp.git.*"}, {"mcp.git.*"}, {"mcp.git.*"}),
    ({"mcp.git.*"}, {"mcp.git-x.*", "mcp.git-x.git_status"}, set()),
    ({"mcp.git.*", "fs.read_file"}, {"*"}, {"mcp.git.*", "fs.read_file"}),
    ({"*"}, {"mcp.git.*"}, {"mcp.git.*"}),
])
def test_named_cases(held: set[str], requested: set[str], granted: set[str]) -> None:
    assert intersect(held, requested) == granted


def test_a_pattern_covers_its_servers_tools_only() -> None:
    held = frozenset({"mcp.git.*"})
    assert allows(held, "mcp.git.git_status") and allows(held, "mcp.git.tool.with.dots")
    assert not allows(held, "mcp.git-x.git_status") and not allows(held, "mcp.git.")
    assert not allows(held, "mcp.gitx") and not allows(held, "fs.read_file")
    assert not allows({"fs.*"}, "fs.read_file") and not allows({"mcp.*"}, "mcp.git.git_status")


def test_server_names() -> None:
    assert SERVER_NAME_PATTERN.pattern == "[a-z0-9][a-z0-9_-]{0,62}"
    for good in ("git", "0day", "my_server-2", "a" * 63):
        assert is_server_name(good), good
    for bad in ("", "Git", "a.b", "-git", "_git", "git*", "a" * 64, "git "):
        assert not is_server_name(bad), bad


STAR_MISUSES = ["fs.*", "mcp.*", "mcp.a*.x", "mcp.git.x*", "mcp.Git.*", "mcp.a.b.*", "mcp..*", "**", "mcp.git.**"]


@pytest.mark.parametrize("grant", STAR_MISUSES)
def test_a_star_other_than_alone_or_a_server_pattern_is_refused(grant: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape("may appear only alone or as 'mcp.<server>.*'")):
        check_grants(["fs.read_file", grant])


def test_valid_grants_pass() -> None:
    check_grants(["*", "mcp.git.*", " mcp.git-x.* ", "mcp.git.git_status", "fs.read_file", ""])


def claims(*caps: str) -> Claims:
    return Claims(jti="j", subject="ops", kind="operator", capabilities=frozenset(caps),
                  backends=frozenset({WILDCARD}), issued_at=1, expires_at=2)


def test_the_gateway_clamps_patterns_and_refuses_malformed_ones() -> None:
    spawn = agents_pb2.SpawnAgentRequest(agent_class="c", task="t", grants=["mcp.git.*", "fs.read_file"])
    clamp("/aos.v1.AgentService/SpawnAgent", spawn, claims("mcp.git.git_status", "fs.read_file"))
    assert list(spawn.grants) == ["fs.read_file", "mcp.git.git_status"]
    mint = tokens_pb2.MintTokenRequest(subject="ci", grants=["mcp.git.*"])
    clamp("/aos.v1.TokenService/MintToken", mint, claims("mcp.git.*"))
    assert list(mint.grants) == ["mcp.git.*"]
    for path, message in (("/aos.v1.AgentService/SpawnAgent", agents_pb2.SpawnAgentRequest(grants=["fs.*"])),
                          ("/aos.v1.TokenService/MintToken", tokens_pb2.MintTokenRequest(grants=["mcp.*"]))):
        with pytest.raises(InvalidArgument):
            clamp(path, message, claims(WILDCARD))


def test_the_kernel_takes_patterns_in_a_spawn_and_refuses_malformed_ones() -> None:
    validate_spawn(agents_pb2.SpawnAgentRequest(agent_class="reader", task="x", grants=["mcp.git.*", "*"]))
    with pytest.raises(InvalidArgument, match="may appear only alone"):
        validate_spawn(agents_pb2.SpawnAgentRequest(agent_class="reader", task="x", grants=["mcp.a*.x"]))


def agent_class(capabilities: frozenset[str]) -> AgentClass:
    return AgentClass(name="git-reader", backend="ollama", model="llama3", allowed_backends=frozenset({"ollama"}),
                      capabilities=capabilities, cost_ceiling_usd=1.0)


def test_a_class_may_grant_a_servers_tools_and_nothing_star_shaped_else() -> None:
    assert agent_class(frozenset({"mcp.git.*", "fs.read_file"})).capabilities == {"mcp.git.*", "fs.read_file"}
    for grant in STAR_MISUSES:
        with pytest.raises(InvalidArgument):
            agent_class(frozenset({grant}))


async def _unused(args: Mapping[str, Any], ctx: ToolContext) -> str:
    raise AssertionError("not called")


def tool(name: str) -> Tool:
    return Tool(name=name, description=name, parameters={"type": "object"}, reversible=True, blast_radius="low",
                idempotent=True, run=_unused)


def test_the_model_is_shown_the_tools_a_pattern_covers() -> None:
    registry = ToolRegistry(tool(n) for n in ("fs.read_file", "mcp.git.git_status", "mcp.git.git_reset",
                                              "mcp.git-x.git_status"))

    def shown(*grants: str) -> list[str]:
        return [t.name for t in registry.granted(grants)]

    assert shown("mcp.git.*") == ["mcp.git.git_status", "mcp.git.git_reset"]
    assert shown("mcp.git.git_reset", "fs.read_file") == ["fs.read_file", "mcp.git.git_reset"]
    assert shown("*") == [t.name for t in registry.all()]
    assert shown("fs.*") == []
