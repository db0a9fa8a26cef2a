"""narrow(parent, request) stays within parent in every field, whatever is asked,
`mcp.<server>.*` patterns included (their exact semantics: tests/unit/test_capability_patterns.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from aos_common.capabilities import WILDCARD, is_subset
from policy_svc.capability import UNBOUNDED_EXP, Grant, narrow, within

NAMES = st.sampled_from(["fs.read_file", "fs.delete_file", "fs.list_dir", "agents.spawn", "anthropic",
                         "openai", "ollama", WILDCARD, " fs.read_file ", "",
                         "mcp.git.*", "mcp.git.git_status", "mcp.git.git_reset", "mcp.git-x.*", "mcp.git-x.git_status"])
SETS = st.frozensets(NAMES, max_size=6)
EXPIRIES = st.integers(min_value=1, max_value=UNBOUNDED_EXP)
CEILINGS = st.one_of(st.none(), st.floats(min_value=0.0001, max_value=1e6, allow_nan=False))
GRANTS = st.builds(Grant, caps=SETS, backends=SETS, expires_at=EXPIRIES, ceiling_usd=CEILINGS)


@settings(max_examples=2000, deadline=None)
@given(parent=GRANTS, request=GRANTS)
def test_narrowing_never_widens_any_field(parent: Grant, request: Grant) -> None:
    child = narrow(parent, request)
    assert is_subset(child.caps, parent.caps)
    assert is_subset(child.backends, parent.backends)
    assert child.expires_at <= parent.expires_at
    if parent.ceiling_usd is not None:
        assert child.ceiling_usd is not None and child.ceiling_usd <= parent.ceiling_usd
    assert within(child, parent)
    # Nothing asked for nothing granted, except where the request is a wildcard.
    if WILDCARD not in {c.strip() for c in request.caps}:
        assert is_subset(child.caps, request.caps)


@settings(max_examples=2000, deadline=None)
@given(caller=GRANTS, request=GRANTS, template=GRANTS)
def test_spawn_narrowing_stays_within_caller_and_template(caller: Grant, request: Grant, template: Grant) -> None:
    child = narrow(narrow(caller, request), template)
    assert within(child, caller)
    assert is_subset(child.caps, template.caps)
    assert child.expires_at <= min(caller.expires_at, request.expires_at, template.expires_at)
