"""The retirement pass: ended agents' tokens are revoked in policy, and a row
is marked only once policy has answered, so an outage means a retry, not a
token left valid."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from aos_common.errors import Unavailable
from kernel_svc.retirement import Retirement
from tests.fakes import FakePolicy


@dataclass
class FakeStore:
    ended: list[tuple[str, str]]
    marked: list[str] = field(default_factory=list)

    async def unrevoked_ends(self, limit: int) -> list[tuple[str, str]]:
        return [e for e in self.ended if e[0] not in self.marked][:limit]

    async def mark_tokens_revoked(self, agent_ids: list[str]) -> None:
        self.marked.extend(agent_ids)


def test_ended_agents_are_retired_once() -> None:
    store, policy = FakeStore([("a1", "j1"), ("a2", "j2")]), FakePolicy()
    retirement = Retirement(store, policy, interval_seconds=0.01)  # type: ignore[arg-type]
    assert asyncio.run(retirement.retire_once()) == 2
    assert policy.asked == [["j1", "j2"]] and store.marked == ["a1", "a2"]
    assert asyncio.run(retirement.retire_once()) == 0 and policy.asked == [["j1", "j2"]]


def test_a_policy_outage_leaves_the_rows_for_the_next_pass() -> None:
    store, policy = FakeStore([("a1", "j1")]), FakePolicy(down=True)
    retirement = Retirement(store, policy, interval_seconds=0.01)  # type: ignore[arg-type]
    with pytest.raises(Unavailable):
        asyncio.run(retirement.retire_once())
    assert store.marked == []
    policy.down = False
    assert asyncio.run(retirement.retire_once()) == 1 and store.marked == ["a1"]
