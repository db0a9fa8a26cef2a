"""The process table against real PostgreSQL: the state machine, claiming,
heartbeats, the orphan reaper and fencing of stale workers."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from typing import Any

import asyncpg
import pytest

from aos_common.errors import InvalidTransition
from kernel_svc import states
from kernel_svc.errors import StaleEpoch
from kernel_svc.process import NewAgent
from kernel_svc.reaper import Reaper
from kernel_svc.store import Store
from tests.conftest import TestDatabase

# The contract's state machine, written out independently of the SQL that enforces it.
VALID = {
    ("runnable", "running"),
    ("runnable", "cancelled"),
    ("running", "runnable"),
    ("running", "waiting_approval"),
    ("running", "completed"),
    ("running", "completed_disputed"),
    ("running", "failed"),
    ("running", "abandoned_ungrounded"),
    ("running", "suspended_token_expired"),
    ("running", "cancelled"),
    ("waiting_approval", "running"),
    ("waiting_approval", "suspended_token_expired"),
    ("waiting_approval", "cancelled"),
    ("suspended_token_expired", "runnable"),
    ("suspended_token_expired", "waiting_approval"),
    ("suspended_token_expired", "cancelled"),
}
ALL_PAIRS = list(itertools.product(states.ALL_STATES, repeat=2))


@pytest.fixture(scope="module")
async def store(db: TestDatabase):
    store = await Store.connect(db.dsn("kernel"))
    yield store
    await store.close()


def new_agent(**overrides) -> NewAgent:
    fields: dict[str, Any] = dict(
        id=str(uuid.uuid4()),
        session_id=str(uuid.uuid4()),
        parent_id=None,
        agent_class="reader",
        backend="anthropic",
        model="aos-scripted",
        task="plan:\n1. answer nothing",
        grants=("fs.read_file",),
        token="header.payload.signature",
        token_jti=uuid.uuid4().hex,
        token_expires_at_unix=int(time.time()) + 3600,
    )
    fields.update(overrides)
    return NewAgent(**fields)


async def put_in_state(db: TestDatabase, agent_id: str, state: str) -> None:
    """Force a state as the superuser, bypassing the trigger, to set up a test."""
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute("UPDATE kernel.agent_processes SET state = $2 WHERE id = $1", uuid.UUID(agent_id), state)
    finally:
        await conn.close()


async def test_state_machine_has_exactly_the_contract_transitions(store: Store, db: TestDatabase) -> None:
    assert len(ALL_PAIRS) == 81
    refused, allowed = [], []
    for from_state, to_state in ALL_PAIRS:
        agent = await store.insert_agent(new_agent())
        await put_in_state(db, agent.id, from_state)
        try:
            moved = await store.transition(agent.id, to_state)
        except InvalidTransition as error:
            assert error.reason == "INVALID_TRANSITION"
            refused.append((from_state, to_state))
            assert (await store.get_agent(agent.id)).state == from_state
        else:
            assert moved.state == to_state
            allowed.append((from_state, to_state))
    assert set(allowed) == VALID
    assert len(refused) == 81 - len(VALID)


async def test_trigger_refuses_an_unguarded_invalid_update(store: Store, db: TestDatabase) -> None:
    agent = await store.insert_agent(new_agent())
    conn = await asyncpg.connect(db.dsn("kernel"))
    try:
        with pytest.raises(asyncpg.PostgresError) as caught:
            await conn.execute("UPDATE kernel.agent_processes SET state = 'completed' WHERE id = $1",
                               uuid.UUID(agent.id))
        assert caught.value.sqlstate == "AOS01"
    finally:
        await conn.close()


async def test_kernel_role_cannot_delete_agents(db: TestDatabase, store: Store) -> None:
    agent = await store.insert_agent(new_agent())
    conn = await asyncpg.connect(db.dsn("kernel"))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM agent_processes WHERE id = $1", uuid.UUID(agent.id))
    finally:
        await conn.close()


async def drain(store: Store, worker: str) -> None:
    """Claim and park everything claimable, so each test starts from an empty queue."""
    while (agent := await store.claim(worker)) is not None:
        await store.transition(agent.id, states.CANCELLED)


async def test_concurrent_claims_never_share_an_agent(store: Store) -> None:
    await drain(store, "drain")
    ids = {(await store.insert_agent(new_agent())).id for _ in range(12)}
    claims = await asyncio.gather(*(store.claim(f"w{i}") for i in range(20)))
    got = [c for c in claims if c is not None]
    assert len(got) == 12
    assert {c.id for c in got} == ids
    assert all(c.state == states.RUNNING and c.attempts == 1 for c in got)
    for c in got:
        await store.transition(c.id, states.COMPLETED, epoch=c.epoch, result="done")


async def test_claims_take_turns_across_sessions(store: Store) -> None:
    """A fan-out in session A cannot starve session B: B's lone agent, queued after A's whole
    backlog, is claimed next, and then A's backlog resumes."""
    await drain(store, "drain")
    fan_out = str(uuid.uuid4())
    backlog = [(await store.insert_agent(new_agent(session_id=fan_out))).id for _ in range(6)]
    first = await store.claim("w1")
    assert first is not None and first.id == backlog[0]
    lone = await store.insert_agent(new_agent())
    second = await store.claim("w2")
    assert second is not None and second.id == lone.id
    # Even with nothing of either session running, the session claimed least recently goes first.
    await store.transition(first.id, states.COMPLETED, epoch=first.epoch, result="done")
    await store.transition(second.id, states.COMPLETED, epoch=second.epoch, result="done")
    other = await store.insert_agent(new_agent())
    third = await store.claim("w3")
    assert third is not None and third.id == other.id
    rest = []
    while (agent := await store.claim("w4")) is not None:
        rest.append(agent.id)
    assert rest == backlog[1:]
    for agent_id in [third.id, *rest]:
        await store.transition(agent_id, states.CANCELLED)


async def test_waiting_agents_are_claimed_only_when_due(store: Store) -> None:
    await drain(store, "drain")
    agent = await store.insert_agent(new_agent())
    claimed = await store.claim("w1")
    assert claimed is not None and claimed.id == agent.id
    await store.transition(agent.id, states.WAITING_APPROVAL, epoch=claimed.epoch, delay_seconds=30)
    assert await store.claim("w2") is None
    await store.transition(agent.id, states.CANCELLED)


async def test_heartbeat_keeps_an_agent_from_the_reaper(store: Store, db: TestDatabase) -> None:
    await drain(store, "drain")
    await store.register_worker("alive", "host", 1)
    agent = await store.insert_agent(new_agent())
    claimed = await store.claim("alive")
    assert claimed is not None
    await asyncio.sleep(1.2)
    await store.heartbeat(["alive"], [agent.id])
    assert await store.reap_orphans(1.0) == []
    counts = await store.scheduler_counts(5.0)
    assert counts.workers >= 1 and counts.running >= 1
    await store.transition(agent.id, states.COMPLETED, epoch=claimed.epoch)


async def test_reaper_recovers_orphan_and_fences_the_stale_worker(store: Store) -> None:
    await drain(store, "drain")
    agent = await store.insert_agent(new_agent())
    stale = await store.claim("stale-worker")
    assert stale is not None and stale.epoch == 1
    await store.save_checkpoint(agent.id, stale.epoch, {"messages": [], "step": 1})

    await asyncio.sleep(1.2)  # the stale worker stops heartbeating
    result = await Reaper(store, orphan_after_seconds=1.0, interval_seconds=1.0).reap_once()
    assert agent.id in result.orphans
    recovered = await store.get_agent(agent.id)
    assert recovered.state == states.RUNNABLE and recovered.attempts == 2

    fresh = await store.claim("fresh-worker")
    assert fresh is not None and fresh.id == agent.id and fresh.epoch == 3
    assert fresh.checkpoint == {"messages": [], "step": 1}  # resumes from the last checkpoint

    # The stale worker wakes up and tries to finish its step: every write is refused.
    with pytest.raises(StaleEpoch):
        await store.save_checkpoint(agent.id, stale.epoch, {"messages": [], "step": 99})
    with pytest.raises(StaleEpoch):
        await store.transition(agent.id, states.COMPLETED, epoch=stale.epoch, result="late answer")
    with pytest.raises(StaleEpoch):
        await store.begin_execution("syscall-1", agent.id, stale.epoch, "fs.delete_file", "00")

    after = await store.get_agent(agent.id)
    assert after.state == states.RUNNING and after.result == "" and after.checkpoint["step"] == 1
    done = await store.transition(agent.id, states.COMPLETED, epoch=fresh.epoch, result="answer")
    assert done.result == "answer"
    assert (await store.scheduler_counts(5.0)).orphans_recovered >= 1


async def test_stale_write_after_reap_but_before_reclaim_is_refused(store: Store) -> None:
    await drain(store, "drain")
    agent = await store.insert_agent(new_agent())
    stale = await store.claim("w")
    assert stale is not None
    await asyncio.sleep(1.1)
    await store.reap_orphans(1.0)
    with pytest.raises(InvalidTransition):
        await store.transition(agent.id, states.COMPLETED, epoch=stale.epoch)
    with pytest.raises(StaleEpoch):
        await store.save_checkpoint(agent.id, stale.epoch, {})
    await store.transition(agent.id, states.CANCELLED)


async def test_non_idempotent_effect_is_claimed_once(store: Store) -> None:
    await drain(store, "drain")
    agent = await store.insert_agent(new_agent())
    claimed = await store.claim("w")
    assert claimed is not None
    key = f"approval-{uuid.uuid4()}"
    assert await store.begin_execution(key, agent.id, claimed.epoch, "fs.delete_file", "ab") is True
    assert await store.begin_execution(key, agent.id, claimed.epoch, "fs.delete_file", "ab") is False
    unfinished = await store.get_execution(key)
    assert unfinished is not None and unfinished.ok is None
    await store.finish_execution(key, True, "deleted notes/old.txt")
    finished = await store.get_execution(key)
    assert finished is not None and finished.ok is True and finished.result == "deleted notes/old.txt"
    await store.transition(agent.id, states.COMPLETED, epoch=claimed.epoch)


async def test_expired_token_while_waiting_suspends_and_renew_resumes(store: Store) -> None:
    await drain(store, "drain")
    agent = await store.insert_agent(new_agent(token_expires_at_unix=int(time.time()) - 1))
    claimed = await store.claim("w")
    assert claimed is not None
    await store.transition(agent.id, states.WAITING_APPROVAL, epoch=claimed.epoch, delay_seconds=60)
    assert agent.id in await store.suspend_expired()
    suspended = await store.get_agent(agent.id)
    assert suspended.state == states.SUSPENDED_TOKEN_EXPIRED and suspended.error_reason == "TOKEN_EXPIRED"
    renewed = await store.renew_token(agent.id, states.WAITING_APPROVAL, "new.token.value", "jti-2",
                                      int(time.time()) + 3600)
    assert renewed.state == states.WAITING_APPROVAL and renewed.token_jti == "jti-2"
    assert renewed.error_reason == ""  # the suspension is over
    with pytest.raises(InvalidTransition):
        await store.renew_token(agent.id, states.RUNNABLE, "again", "jti-3", int(time.time()) + 3600)
    await store.transition(agent.id, states.CANCELLED)


async def test_unknown_agent_is_not_found(store: Store) -> None:
    from aos_common.errors import InvalidArgument, NotFound

    with pytest.raises(NotFound):
        await store.get_agent(str(uuid.uuid4()))
    with pytest.raises(InvalidArgument):
        await store.get_agent("not-a-uuid")
