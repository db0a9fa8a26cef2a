"""The audit service over real gRPC and real PostgreSQL: appends, reading,
verification, who may read, and what bad input gets."""

from __future__ import annotations

import asyncio
import json
import uuid
from contextlib import aclosing
from datetime import UTC, datetime

import asyncpg
import grpc
import pytest

from aos.v1 import audit_internal_pb2 as internal_pb
from aos.v1 import audit_internal_pb2_grpc as internal_grpc
from aos.v1 import audit_pb2 as pb
from aos.v1 import audit_pb2_grpc as pb_grpc
from aos.v1 import common_pb2, status_pb2, status_pb2_grpc
from aos_common.canonical import canonical_json
from aos_common.errors import AosError
from aos_common.rpc import call
from audit_svc.chain import Actor, entry_hash, genesis_hash, new_event
from audit_svc.store import AuditStore
from tests.conftest import TestDatabase
from tests.integration.audit_harness import FakePolicy, audit_config, bearer, start_audit, start_policy

ACTOR = common_pb2.Actor(service="policy", subject="operator@test", jti="jti-1")


class Clients:
    def __init__(self, address: str, policy: FakePolicy):
        self.address = address
        self.channel = grpc.aio.insecure_channel(address)
        self.writer = internal_grpc.AuditWriterServiceStub(self.channel)
        self.reader = pb_grpc.AuditServiceStub(self.channel)
        self.status = status_pb2_grpc.StatusServiceStub(self.channel)
        self.policy = policy
        self.auth = bearer(policy.mint({"audit.read"}))

    async def append(self, session: str, payload: dict | None = None, event_type: str = "SYSCALL_ALLOWED"):
        request = internal_pb.AppendEventRequest(
            session_id=session, event_type=event_type, actor=ACTOR, payload_json=json.dumps(payload or {})
        )
        return await call(self.writer.AppendEvent(request), "audit")

    async def verify(self, session: str, **kwargs) -> pb.VerifySessionResponse:
        request = pb.VerifySessionRequest(session_id=session, **kwargs)
        return await call(self.reader.VerifySession(request, metadata=self.auth), "audit")


@pytest.fixture(scope="module")
async def clients(db: TestDatabase, tmp_path_factory: pytest.TempPathFactory):
    policy = FakePolicy()
    policy_server, policy_address = await start_policy(policy)
    config = audit_config(db.dsn("audit"), policy_address, tmp_path_factory.mktemp("audit"), every_events=5)
    audit = await start_audit(config)
    clients = Clients(f"127.0.0.1:{audit.port}", policy)
    yield clients
    await clients.channel.close()
    await audit.stop()
    await policy_server.stop(None)


async def test_sql_and_python_compute_the_same_chain(clients: Clients, db: TestDatabase) -> None:
    session = str(uuid.uuid4())
    hashes = [(await clients.append(session, {"n": n, "tool": "fs.read_file"})).hash for n in range(3)]
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        rows = await conn.fetch(
            "SELECT chain_seq, record, prev_hash, hash FROM audit.audit_events WHERE session_id = $1"
            " ORDER BY chain_seq",
            uuid.UUID(session),
        )
    finally:
        await conn.close()
    prev = genesis_hash(session)
    for row in rows:
        assert row["prev_hash"] == prev
        assert row["hash"] == entry_hash(prev, row["chain_seq"], row["record"])
        assert row["record"] == canonical_json(json.loads(row["record"]))  # stored canonical
        prev = row["hash"]
    assert [r["hash"].hex() for r in rows] == hashes


async def test_events_read_back_from_the_hashed_record(clients: Clients) -> None:
    session = str(uuid.uuid4())
    await clients.append(session, {"tool": "fs.delete_file", "args": {"path": "notes/old.txt"}})
    response = await call(
        clients.reader.ListAuditEvents(pb.ListAuditEventsRequest(session_id=session), metadata=clients.auth), "audit"
    )
    (event,) = response.events
    assert event.chain_seq == 1
    assert event.event_type == "SYSCALL_ALLOWED"
    assert event.actor.subject == "operator@test" and event.actor.jti == "jti-1"
    assert event.payload["args"]["path"] == "notes/old.txt"
    assert event.created_at.seconds > 0
    assert json.loads(event.record)["session_id"] == session
    assert event.prev_hash == genesis_hash(session).hex()


async def test_paging(clients: Clients) -> None:
    session = str(uuid.uuid4())
    for n in range(7):
        await clients.append(session, {"n": n})
    seen, after = [], 0
    while True:
        request = pb.ListAuditEventsRequest(session_id=session, after_seq=after, limit=3)
        page = await call(clients.reader.ListAuditEvents(request, metadata=clients.auth), "audit")
        seen += [e.chain_seq for e in page.events]
        if not page.next_after_seq:
            break
        after = page.next_after_seq
    assert seen == list(range(1, 8))


async def test_concurrent_writers_on_one_session_leave_no_gap_or_duplicate(clients: Clients) -> None:
    session = str(uuid.uuid4())

    async def writer(w: int) -> list[int]:
        return [(await clients.append(session, {"writer": w, "n": n})).chain_seq for n in range(20)]

    results = await asyncio.gather(*(writer(w) for w in range(12)))
    seqs = sorted(s for r in results for s in r)
    assert seqs == list(range(1, 12 * 20 + 1))
    verdict = await clients.verify(session)
    assert verdict.ok and verdict.length == 240, verdict.problem


async def test_concurrent_writers_on_many_sessions(clients: Clients) -> None:
    sessions = [str(uuid.uuid4()) for _ in range(6)]

    async def writer(w: int) -> None:
        for n in range(15):
            await clients.append(sessions[(w + n) % len(sessions)], {"writer": w, "n": n})

    await asyncio.gather(*(writer(w) for w in range(12)))
    for session in sessions:
        verdict = await clients.verify(session)
        assert verdict.ok and verdict.length == 12 * 15 // len(sessions), verdict.problem


async def test_verify_reports_anchors_and_the_unanchored_window(clients: Clients) -> None:
    session = str(uuid.uuid4())
    for round_ in range(2):  # 6 events (past the 5-event threshold), anchored, then 6 more
        for n in range(6):
            await clients.append(session, {"n": 6 * round_ + n})
        for _ in range(40):  # the anchorer ticks once a second
            verdict = await clients.verify(session)
            if verdict.unanchored_entries == 0:
                break
            await asyncio.sleep(0.1)
    assert verdict.ok, verdict.problem
    assert verdict.length == 12 and verdict.first_bad_seq == 0
    assert verdict.anchors_checked == 2 and verdict.unanchored_entries == 0
    await clients.append(session, {"n": 12})
    verdict = await clients.verify(session)
    assert verdict.unanchored_entries == 1 and verdict.unanchored_seconds > 0
    status = await call(clients.status.GetStatus(status_pb2.GetStatusRequest()), "audit")
    assert status.service == "audit" and status.anchors.store == "local-dev"
    assert status.anchors.successes >= 2 and status.anchors.failures == 0


async def test_incremental_verification(clients: Clients) -> None:
    session = str(uuid.uuid4())
    responses = [await clients.append(session, {"n": n}) for n in range(6)]
    verdict = await clients.verify(session, trusted_seq=3, trusted_hash=responses[2].hash)
    assert verdict.ok and verdict.length == 6 and verdict.head_hash == responses[-1].hash
    wrong = await clients.verify(session, trusted_seq=3, trusted_hash=responses[1].hash)
    assert not wrong.ok and wrong.first_bad_seq == 3


@pytest.mark.parametrize(
    ("session", "event_type", "payload_json"),
    [
        ("not-a-uuid", "SYSCALL_ALLOWED", "{}"),
        (str(uuid.uuid4()), "lower_case", "{}"),
        (str(uuid.uuid4()), "X", "{}"),
        (str(uuid.uuid4()), "SYSCALL_ALLOWED", "[1, 2]"),
        (str(uuid.uuid4()), "SYSCALL_ALLOWED", "{not json"),
        (str(uuid.uuid4()), "SYSCALL_ALLOWED", '{"n": 9007199254740993}'),
        (str(uuid.uuid4()), "SYSCALL_ALLOWED", '{"x": NaN}'),
        (str(uuid.uuid4()), "SYSCALL_ALLOWED", json.dumps({"big": "x" * 300_000})),
    ],
)
async def test_bad_appends_are_refused_with_invalid_argument(
    clients: Clients, session: str, event_type: str, payload_json: str
) -> None:
    request = internal_pb.AppendEventRequest(
        session_id=session, event_type=event_type, actor=ACTOR, payload_json=payload_json
    )
    with pytest.raises(AosError) as refused:
        await call(clients.writer.AppendEvent(request), "audit")
    assert refused.value.reason == "INVALID_ARGUMENT"


async def test_append_needs_an_actor_service(clients: Clients) -> None:
    request = internal_pb.AppendEventRequest(session_id=str(uuid.uuid4()), event_type="SYSCALL_ALLOWED")
    with pytest.raises(AosError) as refused:
        await call(clients.writer.AppendEvent(request), "audit")
    assert refused.value.reason == "INVALID_ARGUMENT"


async def test_reading_needs_a_valid_token_with_audit_read(clients: Clients) -> None:
    session = str(uuid.uuid4())
    await clients.append(session)
    revoked_jti = uuid.uuid4().hex
    clients.policy.revoked.add(revoked_jti)
    cases = [
        ((), "UNAUTHENTICATED"),
        (bearer("not.a.jwt"), "UNAUTHENTICATED"),
        (bearer(clients.policy.mint({"fs.read_file"})), "INSUFFICIENT_AUTHORITY"),
        (bearer(FakePolicy().mint({"audit.read"})), "UNAUTHENTICATED"),  # signed by a key policy never published
        (bearer(clients.policy.mint({"audit.read"}, jti=revoked_jti)), "UNAUTHENTICATED"),
    ]
    await asyncio.sleep(2.1)  # past the verifier's refresh interval, so it sees the revocation
    for metadata, reason in cases:
        for rpc, request in (
            (clients.reader.ListAuditEvents, pb.ListAuditEventsRequest(session_id=session)),
            (clients.reader.VerifySession, pb.VerifySessionRequest(session_id=session)),
        ):
            with pytest.raises(AosError) as refused:
                await call(rpc(request, metadata=metadata), "audit")
            assert refused.value.reason == reason, (metadata, reason)
    wildcard = bearer(clients.policy.mint({"*"}))
    assert (await call(clients.reader.VerifySession(pb.VerifySessionRequest(session_id=session),
                                                    metadata=wildcard), "audit")).ok


@pytest.mark.parametrize(
    "request_",
    [
        pb.VerifySessionRequest(session_id="nope"),
        pb.VerifySessionRequest(session_id=str(uuid.uuid4()), trusted_seq=2, trusted_hash="zz"),
        pb.VerifySessionRequest(session_id=str(uuid.uuid4()), trusted_seq=-1),
        pb.VerifySessionRequest(session_id=str(uuid.uuid4()), trusted_hash="00" * 32),
    ],
)
async def test_bad_verify_requests_are_refused(clients: Clients, request_: pb.VerifySessionRequest) -> None:
    with pytest.raises(AosError) as refused:
        await call(clients.reader.VerifySession(request_, metadata=clients.auth), "audit")
    assert refused.value.reason == "INVALID_ARGUMENT"


async def test_bad_list_requests_are_refused(clients: Clients) -> None:
    for request in (
        pb.ListAuditEventsRequest(session_id="nope"),
        pb.ListAuditEventsRequest(session_id=str(uuid.uuid4()), limit=10_001),
        pb.ListAuditEventsRequest(session_id=str(uuid.uuid4()), after_seq=-5),
    ):
        with pytest.raises(AosError) as refused:
            await call(clients.reader.ListAuditEvents(request, metadata=clients.auth), "audit")
        assert refused.value.reason == "INVALID_ARGUMENT"


async def test_cli_verify_and_export_round_trip(clients: Clients, tmp_path) -> None:
    from typer.testing import CliRunner

    from aosiq.cli_audit import app

    session = str(uuid.uuid4())
    for n in range(5):
        await clients.append(session, {"n": n, "text": "caf\u00e9 \u2603"})
    address = clients.address
    token = clients.policy.mint({"audit.read"})
    runner = CliRunner()
    common = ["--address", address, "--token", token]
    verified = await asyncio.to_thread(runner.invoke, app, ["verify", session, "--json", *common])
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.output.splitlines()[-1])["length"] == 5
    out = tmp_path / "export.jsonl"
    exported = await asyncio.to_thread(runner.invoke, app, ["export", session, "--output", str(out), *common])
    assert exported.exit_code == 0, exported.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["chain_seq"] for line in lines if "chain_seq" in line] == [1, 2, 3, 4, 5]
    assert "anchor_public_keys" in lines[-1]
    offline = await asyncio.to_thread(runner.invoke, app, ["verify-file", str(out)])
    assert offline.exit_code == 0, offline.output
    no_token = {"AOS_HOME": str(tmp_path), "AOS_TOKEN": ""}
    refused = await asyncio.to_thread(runner.invoke, app, ["verify", session, "--address", address], env=no_token)
    assert refused.exit_code == 3  # no token: the runtime refuses, and says why


async def test_a_verification_abandoned_mid_stream_leaves_the_store_clean(db: TestDatabase) -> None:
    """A reader that fails or is cancelled between pages must leave its connection idle:
    no ROLLBACK sent while a page is still in flight, no error left for the event loop."""
    loop = asyncio.get_running_loop()
    complaints: list[dict] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: complaints.append(context))
    store = await AuditStore.open(db.dsn("audit"), max_size=1)  # one connection: every read reuses it
    try:
        session = str(uuid.uuid4())
        padding = "x" * 2000  # pages large enough that the next one is still in flight
        for index in range(3000):
            await store.append(new_event(session, "SYSCALL_ALLOWED", Actor("policy"),
                                         f'{{"n": {index}, "pad": "{padding}"}}', datetime.now(UTC)))

        async def read(stop_after: int) -> None:
            pages = 0
            async with aclosing(store.stream_events(session, batch=1000)) as stream:
                async for _ in stream:
                    pages += 1
                    if pages == stop_after:
                        raise RuntimeError("the reader failed")  # while the next page is in flight
                    await asyncio.sleep(0.02)

        with pytest.raises(RuntimeError):
            await read(stop_after=1)
        for delay in (0.0, 0.001, 0.005, 0.01, 0.025, 0.045):  # cancelled at different points of the read
            reading = asyncio.create_task(read(stop_after=0))
            await asyncio.sleep(delay)
            reading.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reading
        rows = [row async for page in store.stream_events(session, batch=1000) for row in page]
        assert [row[0] for row in rows] == list(range(1, 3001))
        assert (await store.append(new_event(session, "SYSCALL_ALLOWED", Actor("policy"), "{}",
                                             datetime.now(UTC))))[0] == 3001
        await asyncio.sleep(0.05)
        assert complaints == []
    finally:
        await store.close()
        loop.set_exception_handler(previous)
