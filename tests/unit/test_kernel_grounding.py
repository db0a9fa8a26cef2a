"""Grounding: a final answer must cite existing, successful tool results."""

from __future__ import annotations

from kernel_svc import grounding
from kernel_svc.checkpoint import ResultRecord


def result(index: int, ok: bool = True) -> ResultRecord:
    return ResultRecord(index=index, tool="fs.read_file", args_json="{}", ok=ok, digest="d", excerpt="x")


def test_cited_existing_result_is_grounded() -> None:
    verdict = grounding.check("Revenue grew. [evidence: 1]", [result(1)])
    assert verdict.grounded and verdict.cited == (1,)


def test_several_citations_forms() -> None:
    assert grounding.cited_indices("a [evidence: 1, 3] b [Evidence:2] c [evidence: 1]") == (1, 3, 2)


def test_no_investigation_is_ungrounded() -> None:
    verdict = grounding.check("I am sure it is fine. [evidence: 1]", [])
    assert not verdict.grounded and "no tool" in verdict.problem


def test_missing_citation_is_ungrounded() -> None:
    assert not grounding.check("Done.", [result(1)]).grounded


def test_citation_of_nonexistent_result_is_ungrounded() -> None:
    verdict = grounding.check("See [evidence: 4]", [result(1), result(2)])
    assert not verdict.grounded and "[4]" in verdict.problem


def test_citation_of_a_refusal_is_ungrounded() -> None:
    verdict = grounding.check("See [evidence: 2]", [result(1), result(2, ok=False)])
    assert not verdict.grounded and "errors or refusals" in verdict.problem


def test_one_bad_citation_spoils_the_answer() -> None:
    assert not grounding.check("[evidence: 1] and [evidence: 9]", [result(1)]).grounded
