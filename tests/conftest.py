"""Shared fixtures: one embedded PostgreSQL per test run, a migrated template
database built once, and a fresh database per test module cloned from it
(`CREATE DATABASE … TEMPLATE`), so integration tests never share rows.

Set AOS_TEST_DATABASE_URL to a superuser DSN to use an external server instead.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from aosiq.database import SERVICE_ROLES, create_database, start_embedded, with_database, with_user
from aosiq.migrate import migrate
from audit_svc.verify import ChainVerifier


def run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion from sync fixture code, whatever loop is running."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


@dataclass(frozen=True)
class TestDatabase:
    """A migrated database of its own, with DSNs for the superuser and each service role."""

    __test__ = False  # a fixture's value, not a test class

    name: str
    admin_dsn: str

    def dsn(self, service: str) -> str:
        return with_user(self.admin_dsn, SERVICE_ROLES[service])


@pytest.fixture(scope="session")
def pg_admin_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("AOS_TEST_DATABASE_URL")
    if external:
        yield external
        return
    server, dsn = start_embedded(tmp_path_factory.mktemp("pg") / "data")
    yield dsn
    server.cleanup()


@pytest.fixture(scope="session")
def template_database(pg_admin_dsn: str) -> str:
    name = f"aos_template_{uuid.uuid4().hex[:8]}"
    dsn = run_sync(create_database(pg_admin_dsn, name))
    run_sync(migrate(dsn))
    return name


def new_database(pg_admin_dsn: str, template: str, prefix: str = "aos_test") -> TestDatabase:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    run_sync(create_database(pg_admin_dsn, name, template=template))
    return TestDatabase(name=name, admin_dsn=with_database(pg_admin_dsn, name))


@pytest.fixture(scope="module")
def db(pg_admin_dsn: str, template_database: str) -> TestDatabase:
    """A fresh migrated database for this test module."""
    return new_database(pg_admin_dsn, template_database)


pytest_plugins = ["tests.stack"]


@pytest.fixture
def walked_rows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many rows each call of the verifier's entry-by-entry walk got: what
    the compiled page check (audit_svc/_pagecheck.c) did not take."""
    walked: list[int] = []
    walk = ChainVerifier._walk

    def counting_walk(self: ChainVerifier, rows: list) -> None:
        walked.append(len(rows))
        walk(self, rows)

    monkeypatch.setattr(ChainVerifier, "_walk", counting_walk)
    return walked
