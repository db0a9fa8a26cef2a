"""Anchors in a real S3-compatible server over HTTP (moto), object lock on.

Anchors arrive, are retained and verify; the credentials exist only in the
audit service's config; an outage raises the failure count while appends go
on; the backlog drains when the store is back; and verification reads the
anchors from the store, so a chain rewritten in PostgreSQL is caught.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg
import boto3
import grpc
import pytest
from moto.server import ThreadedMotoServer

from aos.v1 import audit_internal_pb2 as internal_pb
from aos.v1 import audit_internal_pb2_grpc as internal_grpc
from aos.v1 import audit_pb2 as pb
from aos.v1 import audit_pb2_grpc as pb_grpc
from aos.v1 import common_pb2, status_pb2, status_pb2_grpc
from aos_common.rpc import call
from audit_svc.chain import entry_hash
from audit_svc.config import S3Settings
from audit_svc.server import AuditServer
from tests.conftest import TestDatabase
from tests.integration.audit_harness import FakePolicy, audit_config, bearer, start_audit, start_policy

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BUCKET = "aosiq-anchors"
ACCESS_KEY = "audit-anchor-writer"
SECRET_KEY = "s3cr3t-only-audit-holds-" + uuid.uuid4().hex
EVERY = 4


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Setup:
    audit: AuditServer
    moto: ThreadedMotoServer
    endpoint: str
    writer: internal_grpc.AuditWriterServiceStub
    reader: pb_grpc.AuditServiceStub
    status: status_pb2_grpc.StatusServiceStub
    auth: tuple[tuple[str, str], ...]
    s3: S3Client

    async def append(self, session: str, n: int) -> None:
        request = internal_pb.AppendEventRequest(
            session_id=session,
            event_type="SYSCALL_COMPLETED",
            actor=common_pb2.Actor(service="kernel"),
            payload_json=json.dumps({"n": n}),
        )
        await call(self.writer.AppendEvent(request), "audit")

    async def stats(self):
        return (await call(self.status.GetStatus(status_pb2.GetStatusRequest()), "audit")).anchors

    async def verify(self, session: str) -> pb.VerifySessionResponse:
        return await call(self.reader.VerifySession(pb.VerifySessionRequest(session_id=session), metadata=self.auth),
                          "audit")


async def _until(predicate, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
async def setup(db: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Setup]:
    port = _free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    # The test's own admin client creates the bucket; the audit service gets its keys from its config only.
    admin = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                         aws_access_key_id="admin", aws_secret_access_key="admin-secret")
    admin.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    policy = FakePolicy()
    policy_server, policy_address = await start_policy(policy)
    s3 = S3Settings(endpoint=endpoint, bucket=BUCKET, access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY,
                    retention_mode="COMPLIANCE", retention_days=1)
    config = audit_config(db.dsn("audit"), policy_address, tmp_path_factory.mktemp("audit"),
                          every_events=EVERY, every_seconds=0.3, s3=s3)
    audit = await start_audit(config)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{audit.port}")
    yield Setup(
        audit, moto, endpoint,
        internal_grpc.AuditWriterServiceStub(channel), pb_grpc.AuditServiceStub(channel),
        status_pb2_grpc.StatusServiceStub(channel), bearer(policy.mint({"audit.read"})), admin,
    )  # fmt: skip
    await channel.close()
    await audit.stop()
    await policy_server.stop(None)
    moto.stop()


async def test_anchors_arrive_with_retention_and_verify(setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    session = str(uuid.uuid4())

    async def anchored() -> bool:
        return (await setup.verify(session)).unanchored_entries == 0

    for round_ in range(2):  # two anchoring windows, so two linked anchors
        for n in range(5):
            await setup.append(session, 5 * round_ + n)
        await _until(anchored)
    verdict = await setup.verify(session)
    assert verdict.ok and verdict.length == 10 and verdict.anchors_checked >= 2, verdict
    listing = setup.s3.list_object_versions(Bucket=BUCKET, Prefix=f"anchors/{session}/")
    keys = [v["Key"] for v in listing["Versions"]]
    assert len(keys) == len(set(keys)) >= 2  # one object per anchor, never overwritten
    head = setup.s3.head_object(Bucket=BUCKET, Key=keys[0])
    assert head["ObjectLockMode"] == "COMPLIANCE" and head["ObjectLockRetainUntilDate"]
    stats = await setup.stats()
    assert stats.store == "s3" and stats.successes >= 2 and stats.failures == 0 and stats.backlog == 0
    assert stats.last_success_at.seconds > 0
    # The credentials live in the audit service's config alone: not in this
    # process's environment (so nothing else inherits them), not in the logs,
    # not in what status reports.
    assert not any(SECRET_KEY in value or ACCESS_KEY in value for value in os.environ.values())
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AOS_ANCHOR_SECRET_ACCESS_KEY"):
        assert name not in os.environ
    assert SECRET_KEY not in caplog.text and SECRET_KEY not in str(stats)
    assert SECRET_KEY not in repr(setup.audit)


async def test_outage_counts_failures_while_appends_continue_then_drains(setup: Setup) -> None:
    session = str(uuid.uuid4())
    before = await setup.stats()
    setup.moto.stop()
    try:
        for n in range(3 * EVERY):
            await setup.append(session, n)  # appends never wait on the store

        async def failing() -> bool:
            stats = await setup.stats()
            return stats.failures > before.failures and stats.backlog >= 1

        await _until(failing)
        assert (await setup.stats()).successes == before.successes
    finally:
        setup.moto.start()

    async def drained() -> bool:
        stats = await setup.stats()
        return stats.backlog == 0 and stats.successes > before.successes

    await _until(drained, within=15)
    verdict = await setup.verify(session)
    assert verdict.ok and verdict.length == 3 * EVERY and verdict.unanchored_entries == 0, verdict


async def test_rewrite_in_postgres_is_caught_by_the_stored_anchors(setup: Setup, db: TestDatabase) -> None:
    session = str(uuid.uuid4())
    for n in range(2 * EVERY):
        await setup.append(session, n)

    async def anchored() -> bool:
        return (await setup.verify(session)).unanchored_entries == 0

    await _until(anchored)
    # A superuser rewrites the whole chain with recomputed hashes, and the
    # anchors table too; only the anchor store still holds the truth.
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            rows = await conn.fetch(
                "SELECT chain_seq, record, prev_hash FROM audit.audit_events WHERE session_id = $1 ORDER BY 1",
                uuid.UUID(session),
            )
            prev = rows[0]["prev_hash"]
            for row in rows:
                record = row["record"].replace(b'"n":', b'"N":')
                digest = entry_hash(prev, row["chain_seq"], record)
                await conn.execute(
                    "UPDATE audit.audit_events SET record = $3, prev_hash = $4, hash = $5"
                    " WHERE session_id = $1 AND chain_seq = $2",
                    uuid.UUID(session), row["chain_seq"], record, prev, digest,
                )  # fmt: skip
                prev = digest
            await conn.execute("DELETE FROM audit.audit_anchors WHERE session_id = $1", uuid.UUID(session))
    finally:
        await conn.close()
    verdict = await setup.verify(session)
    assert not verdict.ok and verdict.first_bad_seq == 1, verdict
