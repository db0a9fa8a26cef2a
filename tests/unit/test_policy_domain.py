"""Agent classes, prices and tool policies refuse invalid values when built."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aos_common.errors import InvalidArgument
from policy_svc.approvals import same_operator
from policy_svc.classes import AgentClass
from policy_svc.pricing import DEFAULT_PRICES, PriceTable
from policy_svc.syscalls import ToolPolicy


def agent_class(**overrides: Any) -> AgentClass:
    fields: dict[str, Any] = dict(name="research", backend="ollama", model="llama3",
                                  allowed_backends=frozenset({"ollama"}), capabilities=frozenset({"fs.read_file"}),
                                  cost_ceiling_usd=2.5)
    fields.update(overrides)
    return AgentClass(**fields)


def test_a_valid_class_builds() -> None:
    assert agent_class().name == "research"


@pytest.mark.parametrize("overrides", [
    {"name": "Research"}, {"name": "9lives"}, {"name": "a" * 65}, {"name": ""},
    {"backend": "mistral"}, {"backend": "openai"},
    {"allowed_backends": frozenset()}, {"allowed_backends": frozenset({"ollama", "bedrock"})},
    {"capabilities": frozenset()}, {"capabilities": frozenset({"*"})}, {"capabilities": frozenset({"bad name"})},
    {"cost_ceiling_usd": 0.0}, {"cost_ceiling_usd": -1.0}, {"cost_ceiling_usd": float("inf")},
    {"cost_ceiling_usd": float("nan")}, {"model": " "},
    {"sandbox_limits": {"memory_mb": 0}}, {"sandbox_limits": {"cpu_s": 1.5}}, {"sandbox_limits": {"network": 1}},
    {"sandbox_limits": {"wall_s": float("inf")}}, {"sandbox_limits": {"processes": 10**9}},
])
def test_invalid_classes_are_refused(overrides: dict) -> None:
    with pytest.raises(InvalidArgument):
        agent_class(**overrides)


@pytest.mark.parametrize(("overrides", "field"), [
    ({"approval_quorum": {"critical": 2}}, "approval_quorum"), ({"approval_quorum": {"high": 0}}, "approval_quorum"),
    ({"approval_quorum": {"high": 11}}, "approval_quorum"), ({"approval_quorum": {"high": 1.5}}, "approval_quorum"),
    ({"approval_quorum": {"high": True}}, "approval_quorum"),
    ({"approval_ttl_seconds": 0}, "approval_ttl_seconds"), ({"approval_ttl_seconds": -1}, "approval_ttl_seconds"),
    ({"approval_ttl_seconds": 31 * 86400}, "approval_ttl_seconds"),
])
def test_invalid_approval_quorums_and_expiries_are_refused_naming_the_field(overrides: dict, field: str) -> None:
    with pytest.raises(InvalidArgument, match=field):
        agent_class(**overrides)


def test_a_quorum_names_the_approvals_each_blast_radius_needs() -> None:
    two_person = agent_class(approval_quorum={"high": 2, "medium": 1}, approval_ttl_seconds=600)
    assert [two_person.approvals_required(r) for r in ("low", "medium", "high")] == [1, 1, 2]
    assert agent_class().approvals_required("high") == 1


@pytest.mark.parametrize(("subject", "other", "same"), [
    ("root/alice", "root/alice", True), ("root/alice/sock", "root/alice", True), ("root", "root/alice", True),
    ("root/alice", "root/bob", False), ("root/alice2", "root/alice", False), ("root/al", "root/alice", False),
])
def test_a_subject_and_those_minted_in_its_namespace_are_one_operator(subject: str, other: str, same: bool) -> None:
    assert same_operator(subject, other) is same and same_operator(other, subject) is same


def test_scripted_model_has_a_nonzero_price() -> None:
    assert PriceTable.load(None).cost("aos-scripted", 1_000_000, 1_000_000) == Decimal("18.0")


def test_unknown_models_are_priced_at_the_most_expensive_rates() -> None:
    table = PriceTable.load(None)
    highest_in = max(p.input_per_mtok for p in DEFAULT_PRICES.values())
    highest_out = max(p.output_per_mtok for p in DEFAULT_PRICES.values())
    assert table.cost("mystery-model", 1_000_000, 1_000_000) == highest_in + highest_out


def test_dated_model_names_use_their_family_price() -> None:
    table = PriceTable.load(None)
    assert table.price("claude-sonnet-4-20250514") == DEFAULT_PRICES["claude-sonnet-4"]
    assert table.price("gpt-4o-mini-2024-07-18") == DEFAULT_PRICES["gpt-4o-mini"]


def test_price_file_overrides_and_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"aos-scripted": {"input_per_mtok": 1, "output_per_mtok": 2}}))
    assert PriceTable.load(path).cost("aos-scripted", 1_000_000, 0) == Decimal(1)
    path.write_text(json.dumps({"m": {"input_per_mtok": -1, "output_per_mtok": 2}}))
    with pytest.raises(ValueError):
        PriceTable.load(path)


def test_negative_token_counts_are_refused() -> None:
    with pytest.raises(InvalidArgument):
        PriceTable.load(None).cost("aos-scripted", -1, 10)


@pytest.mark.parametrize("overrides", [{"name": "bad name"}, {"blast_radius": "huge"}, {"args_schema_json": "{"}])
def test_invalid_tool_policies_are_refused(overrides: dict) -> None:
    fields: dict[str, Any] = dict(name="fs.delete_file", reversible=False, blast_radius="high", idempotent=False)
    fields.update(overrides)
    with pytest.raises(InvalidArgument):
        ToolPolicy(**fields)
