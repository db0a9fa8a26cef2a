"""Who may decide an approval, and which subject a minted token carries: pure
rules, no services."""

from __future__ import annotations

import pytest

from aos_common.errors import InsufficientAuthority, InvalidArgument
from aos_common.tokens import Claims
from policy_svc.approvals import require_authority_over, require_decider
from policy_svc.operators import MAX_SUBJECT_CHARS, minted_subject


def operator(*caps: str, subject: str = "bootstrap-admin", kind: str = "operator") -> Claims:
    return Claims(jti="j", subject=subject, kind=kind, capabilities=frozenset(caps), backends=frozenset(),
                  issued_at=1, expires_at=2**40)


@pytest.mark.parametrize("caps", [("approvals.decide",), ("approvals.read",), ()])
def test_deciding_needs_both_reading_and_deciding(caps: tuple[str, ...]) -> None:
    with pytest.raises(InsufficientAuthority):
        require_decider(operator(*caps))


def test_an_agent_never_decides() -> None:
    with pytest.raises(InsufficientAuthority):
        require_decider(operator("*", kind="agent"))


def test_a_decider_must_hold_the_approvals_tool() -> None:
    row = {"tool": "fs.delete_file"}
    with pytest.raises(InsufficientAuthority, match=r"fs\.delete_file"):
        require_authority_over(operator("approvals.decide", "approvals.read", "fs.read_file"), row)
    require_authority_over(operator("approvals.decide", "approvals.read", "fs.delete_file"), row)
    require_authority_over(operator("*"), row)


def test_minted_subjects_live_under_the_minter() -> None:
    assert minted_subject(operator(subject="bootstrap-admin"), "bootstrap-admin") == "bootstrap-admin/bootstrap-admin"
    assert minted_subject(operator(subject="a/b"), "c") == "a/b/c"


@pytest.mark.parametrize("requested", ["a/b", "", "agent:x", "x" * 129, "sp ace", "new\nline"])
def test_subjects_that_could_collide_are_refused(requested: str) -> None:
    with pytest.raises(InvalidArgument):
        minted_subject(operator(), requested)


def test_a_minting_line_too_deep_is_refused_clearly() -> None:
    with pytest.raises(InvalidArgument, match="nearer the root"):
        minted_subject(operator(subject="x" * (MAX_SUBJECT_CHARS - 2)), "yz")
