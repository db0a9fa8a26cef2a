"""The walking skeleton, end to end through `aosiq up`: real processes, real gRPC,
real PostgreSQL, one request travelling gateway → kernel → policy → audit."""

from __future__ import annotations

import time
from concurrent import futures

import asyncpg
import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from aosiq.launcher import free_port
from tests.conftest import run_sync
from tests.stack import RunningStack


class SpanCollector(trace_service_pb2_grpc.TraceServiceServicer):
    """A minimal OTLP/gRPC receiver: the services export their spans here."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, str]] = []  # (service, trace id hex, span name)

    def Export(self, request, context):
        for resource_spans in request.resource_spans:
            service = next(
                (a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"), ""
            )
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.spans.append((service, span.trace_id.hex(), span.name))
        return trace_service_pb2.ExportTraceServiceResponse()


OTLP_PORT = free_port()
STACK_ENV = {
    "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{OTLP_PORT}",
    "OTEL_EXPORTER_OTLP_INSECURE": "true",
    "OTEL_TRACES_EXPORTER": "otlp",
}


@pytest.fixture(scope="module", autouse=True)
def collector():
    sink = SpanCollector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(sink, server)
    server.add_insecure_port(f"127.0.0.1:{OTLP_PORT}")
    server.start()
    yield sink
    server.stop(0)


CLASS = {
    "name": "skeleton-reader",
    "backend": "anthropic",
    "model": "aos-scripted",
    "allowed_backends": ["anthropic"],
    "capabilities": ["fs.read_file", "fs.list_dir"],
    "cost_ceiling_usd": 1.0,
}


def test_health_reports_every_part(stack: RunningStack) -> None:
    health = stack.wait_healthy()
    assert health["status"] == "ok"
    assert health["auth_mode"] == "enforced"
    assert set(health["audit_anchors"]) >= {"successes", "failures"}
    assert health["audit_anchors"]["failures"] == 0
    assert health["scheduler"]["status"] == "ok"
    assert health["scheduler"]["workers"] >= 1
    names = {s["name"]: s["status"] for s in health["services"]}
    assert names == {"kernel": "ok", "policy": "ok", "audit": "ok"}


def test_first_real_path_is_audited(stack: RunningStack) -> None:
    with stack.client() as client:
        created = client.post("/api/v1/agent-classes", json=CLASS)
        assert created.status_code == 200, created.text
        spawned = client.post(
            "/api/v1/agents",
            json={"agent_class": CLASS["name"], "task": "plan:\n1. answer nothing to do", "grants": ["fs.read_file"]},
        )
        assert spawned.status_code == 200, spawned.text
        agent = spawned.json()
        assert agent["agent_id"] and agent["session_id"]
        assert agent["grants"] == ["fs.read_file"]
        assert agent["state"] in ("runnable", "running", "completed", "abandoned_ungrounded")
        events = client.get(f"/api/v1/sessions/{agent['session_id']}/audit-events")
        assert events.status_code == 200, events.text
        kinds = [e["event_type"] for e in events.json()["events"]]
        assert "AGENT_SPAWNED" in kinds
        first = events.json()["events"][0]
        assert first["chain_seq"] == 1 and len(first["hash"]) == 64


def test_empty_grant_intersection_is_refused_before_anything_runs(stack: RunningStack) -> None:
    with stack.client() as client:
        client.post("/api/v1/agent-classes", json=CLASS)
        refused = client.post(
            "/api/v1/agents", json={"agent_class": CLASS["name"], "task": "x", "grants": ["fs.delete_file"]}
        )
    assert refused.status_code == 403
    assert refused.json()["error"]["details"][0]["reason"] == "INSUFFICIENT_AUTHORITY"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "UNAUTHENTICATED"),
        ({"Authorization": "Bearer not-a-token"}, "UNAUTHENTICATED"),
        ({"Authorization": "Basic abc"}, "UNAUTHENTICATED"),
    ],
)
def test_requests_without_a_valid_token_are_refused(stack: RunningStack, headers: dict, reason: str) -> None:
    reply = httpx.post(stack.http_url + "/api/v1/agents", json={"agent_class": "x", "task": "y"}, headers=headers)
    assert reply.status_code == 401
    body = reply.json()["error"]
    assert body["code"] == 401 and body["status"] == "UNAUTHENTICATED"
    assert body["details"][0]["reason"] == reason


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b'{"agent_class": 5, "task": []}', "application/json"),
        (b'{"agent_class": "a", "task": "b", "surprise": 1}', "application/json"),
        (b"[1, 2]", "application/json"),
        (b"\xff\xfe", "application/json"),
    ],
)
def test_bad_input_gets_the_contract_error(stack: RunningStack, body: bytes, content_type: str) -> None:
    with stack.client() as client:
        reply = client.post("/api/v1/agents", content=body, headers={"Content-Type": content_type})
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["details"][0]["reason"] == "INVALID_ARGUMENT"


def test_unknown_path_is_a_contract_404(stack: RunningStack) -> None:
    with stack.client() as client:
        reply = client.get("/api/v1/no-such-thing")
    assert reply.status_code == 404
    assert reply.json()["error"]["details"][0]["reason"] == "NOT_FOUND"


def test_each_service_connects_as_its_own_role(stack: RunningStack) -> None:
    async def roles() -> set[str]:
        conn = await asyncpg.connect(stack.db.admin_dsn)
        try:
            rows = await conn.fetch(
                "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = $1 AND usename LIKE 'aos_%'",
                stack.db.name,
            )
        finally:
            await conn.close()
        return {r["usename"] for r in rows}

    assert run_sync(roles()) >= {"aos_kernel", "aos_policy", "aos_audit"}


def test_one_rest_request_is_one_trace_across_four_services(stack: RunningStack, collector: SpanCollector) -> None:
    stack.wait_healthy()
    with stack.client() as client:
        client.post("/api/v1/agent-classes", json=CLASS)
        reply = client.post(
            "/api/v1/agents", json={"agent_class": CLASS["name"], "task": "trace me", "grants": ["fs.read_file"]}
        )
        assert reply.status_code == 200, reply.text
    deadline = time.monotonic() + 15
    wanted = {"aosiq-gateway", "aosiq-kernel", "aosiq-policy", "aosiq-audit"}
    while time.monotonic() < deadline:
        by_trace: dict[str, set[str]] = {}
        for service, trace_id, _name in collector.spans:
            by_trace.setdefault(trace_id, set()).add(service)
        if any(services >= wanted for services in by_trace.values()):
            return
        time.sleep(0.5)
    raise AssertionError(f"no single trace spans all four services: {by_trace}")
