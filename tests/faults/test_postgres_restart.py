"""PostgreSQL stopped (`pg_ctl stop -m fast`) and started again under load.

This module runs its own embedded PostgreSQL, so stopping it disturbs no other
test. The outage is held for a few seconds — a `pg_ctl restart -m fast` with a
gap long enough for requests and agents to run into it; a few agents are
timed so that their model answers during the outage. While it lasts clients
get clean, retryable errors; afterwards the services recover on their own (no
service process needs restarting), no agent is lost, and every chain verifies.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import, one per bundled binary

from aosiq.database import create_database, start_embedded
from aosiq.migrate import migrate
from tests.conftest import TestDatabase as MigratedDatabase  # aliased: pytest would collect Test*
from tests.conftest import run_sync
from tests.faults.load import (
    Load,
    agents_in_flight,
    current_pid,
    prepare,
    short_task,
    unverified,
    verify_chains,
    wait_terminal,
)
from tests.integration.test_e2e_agents import spawn
from tests.stack import RunningStack, moto_anchor_store, start_stack, stop_stack

pytestmark = pytest.mark.integration

RATE = 8.0
OUTAGE_SECONDS = 4.0
SETTLE_SECONDS = 3.0  # load after the database is back, before the clean window
CLEAN_SECONDS = 3.0  # a window of load that must be answered 200 throughout
SERVICES = ("gateway", "kernel", "policy", "audit")
SLOW_AGENTS = 3


def stop_postgres(server: Any) -> None:
    # As pgserver runs it: its bundled pg_ctl, as the unprivileged `pgserver` user when we are root.
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user, timeout=60)


def orphans_recovered(stack: RunningStack) -> int:
    return int(httpx.get(stack.http_url + "/api/v1/health", timeout=5).json()["scheduler"]["orphans_recovered"])


def postgres_running(pgdata: Path) -> bool:
    return (pgdata / "postmaster.pid").exists()


@pytest.fixture(scope="module")
def own_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, MigratedDatabase]]:
    server, dsn = start_embedded(tmp_path_factory.mktemp("faults_pg") / "data")
    try:
        admin_dsn = run_sync(create_database(dsn, "aos_faults"))
        run_sync(migrate(admin_dsn))
        yield server, MigratedDatabase(name="aos_faults", admin_dsn=admin_dsn)
    finally:
        if postgres_running(server.pgdata):
            stop_postgres(server)
        server.cleanup()


@pytest.fixture(scope="module")
def pg_stack(own_database: tuple[Any, MigratedDatabase], tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[RunningStack]:
    _, db = own_database
    with moto_anchor_store() as anchors:
        running = start_stack(tmp_path_factory.mktemp("aos_home"), db, anchors)
        try:
            running.wait_healthy(90)
            yield running
        finally:
            stop_stack(running)


def test_postgres_restart_under_load(pg_stack: RunningStack, own_database: tuple[Any, MigratedDatabase]) -> None:
    server, _ = own_database
    stack = pg_stack
    pids_before = {name: stack.pid(name) for name in SERVICES}
    with stack.client() as client:
        agent_class = prepare(stack, client)
        outage = Load(stack, agent_class, rate=RATE, max_seconds=90)
        with outage.running() as tally:
            time.sleep(2.0)
            # Agents whose model answers during the outage: their worker can neither record the
            # step nor release them, and must leave them for the reaper rather than strand them.
            slow = [spawn(client, agent_class, short_task(f"slow-{i}", wait_seconds=3), ["fs.read_file"])
                    for i in range(SLOW_AGENTS)]
            recovered_before = orphans_recovered(stack)
            in_flight = agents_in_flight(stack)
            stop_postgres(server)
            time.sleep(OUTAGE_SECONDS)
            server.ensure_postgres_running()
            stack.wait_healthy(60)
            time.sleep(SETTLE_SECONDS)
        clean = Load(stack, agent_class, rate=RATE, max_seconds=CLEAN_SECONDS)
        with clean.running() as after:
            time.sleep(CLEAN_SECONDS + 1)

        spawned = {**tally.spawned, **after.spawned, **{a["agent_id"]: a["session_id"] for a in slow}}
        agents = wait_terminal(client, list(spawned), timeout=90)
        completed = [a for a in agents.values() if a["state"] == "completed"]
        broken = unverified(verify_chains(client, set(spawned.values())))
    recovered = orphans_recovered(stack) - recovered_before
    restarted = [name for name in SERVICES if current_pid(stack, name) != pids_before[name]]
    print(f"\npostgres stopped {OUTAGE_SECONDS:g}s under load: {tally.line()}; "
          f"{in_flight} agents in flight at the stop ({SLOW_AGENTS} mid-LLM-call), "
          f"{recovered} recovered by the reaper; after recovery: {after.line()}; "
          f"service restarts: {restarted or 'none'}; agents {len(completed)}/{len(spawned)} completed; "
          f"chains verified {len(spawned) - len(broken)}/{len(spawned)}")

    assert tally.server_errors == 0 and tally.unexpected == 0 and tally.hangs == 0, tally.samples
    assert tally.refused == 0, tally.by_status
    assert tally.retryable > 0, "the outage was not noticed by any client"
    assert after.ok == after.total > 0, after.samples
    assert restarted == []
    assert in_flight > 0
    assert len(completed) == len(spawned), {a: v["state"] for a, v in agents.items() if v["state"] != "completed"}
    assert broken == {}
