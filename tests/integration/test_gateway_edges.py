"""The gateway's two edges against in-process fake backends over real gRPC on loopback.

The fakes speak the real protos and raise the real domain errors through the
shared server bootstrap, so what reaches the caller is what a real backend's
refusal would produce.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid

import grpc
import httpx
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from jwt.algorithms import OKPAlgorithm
from openapi_spec_validator import validate

from aos.v1 import (
    agents_pb2,
    agents_pb2_grpc,
    approvals_pb2,
    approvals_pb2_grpc,
    audit_internal_pb2,
    audit_internal_pb2_grpc,
    policy_internal_pb2,
    policy_internal_pb2_grpc,
    status_pb2,
    status_pb2_grpc,
    tokens_pb2,
    tokens_pb2_grpc,
)
from aos.v1 import health_pb2 as aos_health_pb2
from aos.v1 import health_pb2_grpc as aos_health_pb2_grpc
from aos_common.errors import (
    ApprovalArgsMismatch,
    CostCeilingExceeded,
    InvalidTransition,
    NotFound,
)
from aos_common.grpc_server import build_server
from aos_common.rpc import reason_of
from aos_common.tokens import Claims
from gateway.config import load
from gateway.server import Gateway

KID = "test-key-1"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


class Keys:
    def __init__(self):
        self.private = Ed25519PrivateKey.generate()
        jwk = json.loads(OKPAlgorithm.to_jwk(self.private.public_key()))
        jwk["kid"] = KID
        self.jwks_json = json.dumps({"keys": [jwk]})
        self.revoked: set[str] = set()

    def mint(self, caps=("*",), ttl=600, jti=None, signer=None, kid=KID):
        now = int(time.time())
        claims = Claims(
            jti=jti or uuid.uuid4().hex,
            subject="operator-1",
            kind="operator",
            capabilities=frozenset(caps),
            backends=frozenset({"*"}),
            issued_at=now - 1000 if ttl < 0 else now,
            expires_at=now + ttl,
        )
        return jwt.encode(claims.to_payload(), signer or self.private, algorithm="EdDSA", headers={"kid": kid})


def metadata_dict(context):
    return {k: v for k, v in context.invocation_metadata()}


class Kernel(agents_pb2_grpc.AgentServiceServicer, status_pb2_grpc.StatusServiceServicer):
    def __init__(self):
        self.calls: list[tuple[str, object, dict]] = []
        self.status_delay = 0.0

    async def SpawnAgent(self, request, context):
        self.calls.append(("SpawnAgent", request, metadata_dict(context)))
        if request.task == "expensive":
            raise CostCeilingExceeded("session would exceed its $1.00 ceiling")
        if request.task == "slow":
            await asyncio.sleep(3)
        return agents_pb2.SpawnAgentResponse(
            agent=agents_pb2.Agent(
                agent_id="a-1", session_id=request.session_id or "s-1", state="runnable", grants=request.grants
            )
        )

    async def GetAgent(self, request, context):
        self.calls.append(("GetAgent", request, metadata_dict(context)))
        if request.agent_id == "missing":
            raise NotFound("no agent missing")
        return agents_pb2.GetAgentResponse(agent=agents_pb2.Agent(agent_id=request.agent_id, state="running"))

    async def CancelAgent(self, request, context):
        raise InvalidTransition("agent is already completed")

    async def GetStatus(self, request, context):
        await asyncio.sleep(self.status_delay)
        return status_pb2.GetStatusResponse(
            service="kernel", scheduler=aos_health_pb2.SchedulerStats(status="ok", workers=2, runnable=1)
        )


class Policy(
    policy_internal_pb2_grpc.PolicyServiceServicer,
    approvals_pb2_grpc.ApprovalServiceServicer,
    tokens_pb2_grpc.TokenServiceServicer,
    status_pb2_grpc.StatusServiceServicer,
):
    def __init__(self, keys: Keys):
        self.keys = keys
        self.calls: list[tuple[str, object, dict]] = []

    async def GetJwks(self, request, context):
        return policy_internal_pb2.GetJwksResponse(jwks_json=self.keys.jwks_json)

    async def GetRevocations(self, request, context):
        return policy_internal_pb2.GetRevocationsResponse(revoked_jtis=sorted(self.keys.revoked))

    async def ListApprovals(self, request, context):
        self.calls.append(("ListApprovals", request, metadata_dict(context)))
        return approvals_pb2.ListApprovalsResponse(
            approvals=[approvals_pb2.Approval(approval_id="ap-1", state=request.state)]
        )

    async def Approve(self, request, context):
        if request.args_hash != "ab12":
            raise ApprovalArgsMismatch("args_hash does not match the pending arguments")
        return approvals_pb2.ApproveResponse(approval=approvals_pb2.Approval(approval_id=request.approval_id))

    async def MintToken(self, request, context):
        self.calls.append(("MintToken", request, metadata_dict(context)))
        return tokens_pb2.MintTokenResponse(token="t", jti="j", grants=request.grants)

    async def GetStatus(self, request, context):
        return status_pb2.GetStatusResponse(service="policy")


class Audit(audit_internal_pb2_grpc.AuditWriterServiceServicer, status_pb2_grpc.StatusServiceServicer):
    async def AppendEvent(self, request, context):
        return audit_internal_pb2.AppendEventResponse(chain_seq=1)

    async def GetStatus(self, request, context):
        return status_pb2.GetStatusResponse(
            service="audit", anchors=aos_health_pb2.AnchorStats(successes=3, failures=1, store="local-dev")
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def start_fake(*servicers_and_adders) -> tuple[grpc.aio.Server, str]:
    def register(server):
        for servicer, add in servicers_and_adders:
            add(servicer, server)
        return []

    server, _, _ = build_server([register])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


class FakeBackends:
    def __init__(self):
        self.keys = Keys()
        self.kernel = Kernel()
        self.policy = Policy(self.keys)
        self.audit = Audit()
        self.servers: list[grpc.aio.Server] = []
        self.addresses: dict[str, str] = {}

    async def start(self) -> FakeBackends:
        for name, servicers in {
            "kernel": [
                (self.kernel, agents_pb2_grpc.add_AgentServiceServicer_to_server),
                (self.kernel, status_pb2_grpc.add_StatusServiceServicer_to_server),
            ],
            "policy": [
                (self.policy, policy_internal_pb2_grpc.add_PolicyServiceServicer_to_server),
                (self.policy, approvals_pb2_grpc.add_ApprovalServiceServicer_to_server),
                (self.policy, tokens_pb2_grpc.add_TokenServiceServicer_to_server),
                (self.policy, status_pb2_grpc.add_StatusServiceServicer_to_server),
            ],
            "audit": [
                (self.audit, audit_internal_pb2_grpc.add_AuditWriterServiceServicer_to_server),
                (self.audit, status_pb2_grpc.add_StatusServiceServicer_to_server),
            ],
        }.items():
            server, address = await start_fake(*servicers)
            self.servers.append(server)
            self.addresses[name] = address
        return self

    def env(self, mode: str = "enforced", **overrides: str) -> dict[str, str]:
        env = {
            "AOS_KERNEL_ADDRESS": self.addresses["kernel"],
            "AOS_POLICY_ADDRESS": self.addresses["policy"],
            "AOS_AUDIT_ADDRESS": self.addresses["audit"],
            "AOS_AUTH_MODE": mode,
            "AOS_BACKEND_TIMEOUT_SECONDS": "1",
        }
        env.update(overrides)
        return env

    async def stop(self) -> None:
        for server in self.servers:
            await server.stop(0)


@pytest_asyncio.fixture(scope="module")
async def fakes():
    backends = await FakeBackends().start()
    yield backends
    await backends.stop()


class Edges:
    """A gateway with both edges up: an httpx client on its ASGI app and a channel to its gRPC port."""

    def __init__(self, gateway: Gateway, http: httpx.AsyncClient, grpc_channel: grpc.aio.Channel):
        self.gateway = gateway
        self.http = http
        self.channel = grpc_channel


async def open_edges(env: dict[str, str]) -> Edges:
    gateway = Gateway(load(env))
    port = gateway.bind_grpc("127.0.0.1", 0)
    await gateway.start_grpc()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway.app), base_url="http://gateway")
    return Edges(gateway, http, grpc.aio.insecure_channel(f"127.0.0.1:{port}"))


async def close_edges(edges: Edges) -> None:
    await edges.http.aclose()
    await edges.channel.close()
    await edges.gateway.stop(0)


@pytest_asyncio.fixture(scope="module")
async def enforced(fakes):
    edges = await open_edges(fakes.env("enforced"))
    yield edges
    await close_edges(edges)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def assert_contract_error(response: httpx.Response, status: int, reason: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == status
    assert isinstance(error["status"], str) and error["status"].isupper()
    assert isinstance(error["message"], str) and "Traceback" not in error["message"]
    assert error["details"][0] == {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "aosiq",
        **({"metadata": error["details"][0]["metadata"]} if "metadata" in error["details"][0] else {}),
    }
    return error


# --- REST: bad input never reaches a backend and never yields a 500 -------------------------------

@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"agent_class": 5}',
        b'{"grants": "fs.read_file"}',
        b'{"agent_class": "c", "surprise": true}',
        b"[]",
        b"\xc3\x28",
    ],
    ids=["malformed", "wrong-type", "not-a-list", "unknown-field", "not-an-object", "bad-utf8"],
)
async def test_bad_bodies_are_400(enforced, fakes, body):
    before = len(fakes.kernel.calls)
    response = await enforced.http.post(
        "/api/v1/agents", content=body, headers={**bearer(fakes.keys.mint()), "content-type": "application/json"}
    )
    assert_contract_error(response, 400, "INVALID_ARGUMENT")
    assert len(fakes.kernel.calls) == before


async def test_a_body_over_the_limit_is_413_before_authentication(enforced, fakes):
    # Refused by the body limit in front of every route (tests/integration/test_gateway_body_limits.py
    # streams it to a real process); no token needed to be refused, none checked first.
    before = len(fakes.kernel.calls)
    response = await enforced.http.post(
        "/api/v1/agents", content=b'{"task": "' + b"x" * (1024 * 1024 + 1) + b'"}',
        headers={"content-type": "application/json"},
    )
    assert_contract_error(response, 413, "INVALID_ARGUMENT")
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert len(fakes.kernel.calls) == before


async def test_unknown_path_is_404_and_wrong_method_405(enforced):
    assert_contract_error(await enforced.http.get("/api/v1/no-such-thing"), 404, "NOT_FOUND")
    assert_contract_error(await enforced.http.get("/"), 404, "NOT_FOUND")
    response = await enforced.http.delete("/api/v1/agents/a-1")
    error = assert_contract_error(response, 405, "NOT_FOUND")
    assert error["status"] == "UNIMPLEMENTED"
    assert response.headers["allow"] == "GET"


async def test_bad_query_parameter_is_400(enforced, fakes):
    response = await enforced.http.get("/api/v1/approvals?limit=lots", headers=bearer(fakes.keys.mint()))
    assert_contract_error(response, 400, "INVALID_ARGUMENT")
    response = await enforced.http.get("/api/v1/approvals?colour=red", headers=bearer(fakes.keys.mint()))
    assert_contract_error(response, 400, "INVALID_ARGUMENT")


# --- REST: authentication in enforced mode -----------------------------------------------------------

async def test_tokens_refused_in_enforced_mode(enforced, fakes):
    forger = Ed25519PrivateKey.generate()
    revoked_jti = uuid.uuid4().hex
    fakes.keys.revoked.add(revoked_jti)
    # Let the verifier's revocation cache refresh.
    await asyncio.sleep(2.1)
    cases = {
        "missing": ({}, "UNAUTHENTICATED"),
        "not-bearer": ({"authorization": "Basic dXNlcjpwYXNz"}, "UNAUTHENTICATED"),
        "garbage": (bearer("not.a.jwt"), "UNAUTHENTICATED"),
        "forged": (bearer(fakes.keys.mint(signer=forger)), "UNAUTHENTICATED"),
        "unknown-kid": (bearer(fakes.keys.mint(kid="other")), "UNAUTHENTICATED"),
        "expired": (bearer(fakes.keys.mint(ttl=-10)), "TOKEN_EXPIRED"),
        "revoked": (bearer(fakes.keys.mint(jti=revoked_jti)), "UNAUTHENTICATED"),
    }
    before = len(fakes.kernel.calls)
    for name, (headers, reason) in cases.items():
        response = await enforced.http.post("/api/v1/agents", json={"agent_class": "c"}, headers=headers)
        assert_contract_error(response, 401, reason), name
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert len(fakes.kernel.calls) == before


async def test_valid_token_is_forwarded_unchanged_and_response_uses_proto_names(enforced, fakes):
    token = fakes.keys.mint()
    response = await enforced.http.post(
        "/api/v1/agents", json={"agentClass": "c", "task": "t", "grants": ["fs.read_file"]}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["agent_id"] == "a-1" and body["session_id"] == "s-1" and body["state"] == "runnable"
    assert body["grants"] == ["fs.read_file"]
    assert body["parent_id"] == "" and body["attempts"] == 0  # every field present
    name, request, metadata = fakes.kernel.calls[-1]
    assert name == "SpawnAgent" and request.agent_class == "c"
    assert metadata["authorization"] == f"Bearer {token}"


async def test_grants_are_clamped_to_the_callers_claims(enforced, fakes):
    token = fakes.keys.mint(caps=("fs.read_file", "agents.spawn"))
    response = await enforced.http.post(
        "/api/v1/agents",
        json={"agent_class": "c", "grants": ["fs.read_file", "fs.delete_file"]},
        headers=bearer(token),
    )
    assert response.status_code == 200
    assert list(fakes.kernel.calls[-1][1].grants) == ["fs.read_file"]

    before = len(fakes.kernel.calls)
    response = await enforced.http.post(
        "/api/v1/agents", json={"agent_class": "c", "grants": ["fs.delete_file"]}, headers=bearer(token)
    )
    assert_contract_error(response, 403, "INSUFFICIENT_AUTHORITY")
    assert len(fakes.kernel.calls) == before

    response = await enforced.http.post(
        "/api/v1/tokens", json={"subject": "ci", "grants": ["fs.read_file", "tokens.admin"]}, headers=bearer(token)
    )
    assert response.status_code == 200
    assert response.json()["grants"] == ["fs.read_file"]


# --- REST: backend refusals keep their reason ---------------------------------------------------------

async def test_backend_reasons_map_to_http(enforced, fakes):
    headers = bearer(fakes.keys.mint())
    response = await enforced.http.post(
        "/api/v1/agents", json={"agent_class": "c", "task": "expensive"}, headers=headers
    )
    error = assert_contract_error(response, 429, "COST_CEILING_EXCEEDED")
    assert error["status"] == "RESOURCE_EXHAUSTED" and "ceiling" in error["message"]
    assert_contract_error(await enforced.http.get("/api/v1/agents/missing", headers=headers), 404, "NOT_FOUND")
    assert_contract_error(
        await enforced.http.post("/api/v1/agents/a-1:cancel", headers=headers), 409, "INVALID_TRANSITION"
    )
    response = await enforced.http.post("/api/v1/approvals/ap-1:approve", json={"args_hash": "ff"}, headers=headers)
    assert_contract_error(response, 409, "APPROVAL_ARGS_MISMATCH")
    response = await enforced.http.post("/api/v1/approvals/ap-1:approve", json={"args_hash": "ab12"}, headers=headers)
    assert response.status_code == 200 and response.json()["approval_id"] == "ap-1"


async def test_query_parameters_reach_the_backend(enforced, fakes):
    response = await enforced.http.get("/api/v1/approvals?state=pending&limit=5", headers=bearer(fakes.keys.mint()))
    assert response.status_code == 200
    assert response.json()["approvals"][0]["state"] == "pending"
    request = fakes.policy.calls[-1][1]
    assert request.state == "pending" and request.limit == 5


async def test_slow_backend_is_504_and_missing_backend_503(fakes):
    dead = f"127.0.0.1:{free_port()}"
    edges = await open_edges(fakes.env("disabled", AOS_AUDIT_ADDRESS=dead))
    try:
        started = time.monotonic()
        response = await edges.http.post("/api/v1/agents", json={"agent_class": "c", "task": "slow"})
        assert_contract_error(response, 504, "UNAVAILABLE")
        assert time.monotonic() - started < 2.5
        response = await edges.http.get("/api/v1/sessions/s-1/audit-events")
        error = assert_contract_error(response, 503, "UNAVAILABLE")
        assert dead not in error["message"]
    finally:
        await close_edges(edges)


async def test_trace_context_crosses_into_the_backend(enforced, fakes):
    traceparent = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
    await enforced.http.get("/api/v1/agents/a-9", headers={**bearer(fakes.keys.mint()), "traceparent": traceparent})
    forwarded = fakes.kernel.calls[-1][2]["traceparent"]
    assert forwarded.split("-")[1] == TRACE_ID


# --- REST: warn and disabled modes --------------------------------------------------------------------

async def test_warn_mode_passes_with_a_warning_and_drops_invalid_tokens(fakes):
    edges = await open_edges(fakes.env("warn"))
    try:
        response = await edges.http.get("/api/v1/agents/a-2")
        assert response.status_code == 200
        assert "UNAUTHENTICATED" in response.headers["x-aos-auth-warning"]
        assert "authorization" not in fakes.kernel.calls[-1][2]

        forged = Keys().mint()
        response = await edges.http.get("/api/v1/agents/a-3", headers=bearer(forged))
        assert response.status_code == 200 and "x-aos-auth-warning" in response.headers
        assert "authorization" not in fakes.kernel.calls[-1][2]

        response = await edges.http.get("/api/v1/agents/a-4", headers=bearer(fakes.keys.mint(ttl=-5)))
        assert "TOKEN_EXPIRED" in response.headers["x-aos-auth-warning"]

        token = fakes.keys.mint()
        response = await edges.http.get("/api/v1/agents/a-5", headers=bearer(token))
        assert response.status_code == 200 and "x-aos-auth-warning" not in response.headers
        assert fakes.kernel.calls[-1][2]["authorization"] == f"Bearer {token}"

        call = agents_pb2_grpc.AgentServiceStub(edges.channel).GetAgent(agents_pb2.GetAgentRequest(agent_id="a-8"))
        assert (await call).agent.agent_id == "a-8"
        trailers = dict(await call.trailing_metadata())
        assert "UNAUTHENTICATED" in trailers["x-aos-auth-warning"]
        assert "authorization" not in fakes.kernel.calls[-1][2]
    finally:
        await close_edges(edges)


async def test_disabled_mode_needs_no_token(fakes):
    edges = await open_edges(fakes.env("disabled"))
    try:
        response = await edges.http.get("/api/v1/agents/a-6")
        assert response.status_code == 200 and "x-aos-auth-warning" not in response.headers
        assert (await edges.http.get("/api/v1/health")).json()["auth_mode"] == "disabled"
    finally:
        await close_edges(edges)


# --- health and the OpenAPI document ------------------------------------------------------------------

async def test_health_needs_no_token_and_reports_each_part(enforced):
    response = await enforced.http.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["auth_mode"] == "enforced"
    assert body["audit_anchors"]["successes"] == 3 and body["audit_anchors"]["failures"] == 1
    assert body["audit_anchors"]["store"] == "local-dev"
    assert body["scheduler"]["status"] == "ok" and body["scheduler"]["workers"] == 2
    assert [(s["name"], s["status"]) for s in body["services"]] == [
        ("kernel", "ok"), ("policy", "ok"), ("audit", "ok")
    ]


async def test_health_is_degraded_and_prompt_when_backends_are_down_or_hang(fakes):
    dead = f"127.0.0.1:{free_port()}"
    edges = await open_edges(fakes.env("enforced", AOS_AUDIT_ADDRESS=dead))
    fakes.kernel.status_delay = 10
    try:
        started = time.monotonic()
        response = await edges.http.get("/api/v1/health")
        elapsed = time.monotonic() - started
        assert response.status_code == 200 and elapsed < 2.0
        body = response.json()
        assert body["status"] == "degraded"
        services = {s["name"]: s for s in body["services"]}
        assert services["audit"]["status"] == "down" and services["kernel"]["status"] == "down"
        assert services["policy"]["status"] == "ok"
        assert body["scheduler"]["status"] == "down"
        assert dead not in response.text
    finally:
        fakes.kernel.status_delay = 0
        await close_edges(edges)


async def test_openapi_document_is_public_and_valid(enforced):
    response = await enforced.http.get("/api/v1/openapi.json")
    assert response.status_code == 200
    validate(response.json())


# --- gRPC edge ----------------------------------------------------------------------------------------

async def test_grpc_forwards_public_calls_with_the_callers_token(enforced, fakes):
    stub = agents_pb2_grpc.AgentServiceStub(enforced.channel)
    token = fakes.keys.mint(caps=("fs.read_file",))
    traceparent = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
    response = await stub.SpawnAgent(
        agents_pb2.SpawnAgentRequest(agent_class="c", grants=["fs.read_file", "fs.delete_file"]),
        metadata=(*bearer(token).items(), ("traceparent", traceparent)),
    )
    assert response.agent.agent_id == "a-1"
    assert list(response.agent.grants) == ["fs.read_file"]
    metadata = fakes.kernel.calls[-1][2]
    assert metadata["authorization"] == f"Bearer {token}"
    assert metadata["traceparent"].split("-")[1] == TRACE_ID


async def test_grpc_enforces_auth_with_error_info(enforced, fakes):
    stub = agents_pb2_grpc.AgentServiceStub(enforced.channel)
    for metadata, reason in [
        ((), "UNAUTHENTICATED"),
        (tuple(bearer(Keys().mint()).items()), "UNAUTHENTICATED"),
        (tuple(bearer(fakes.keys.mint(ttl=-5)).items()), "TOKEN_EXPIRED"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetAgent(agents_pb2.GetAgentRequest(agent_id="a-1"), metadata=metadata)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert reason_of(caught.value)[0] == reason


async def test_grpc_returns_the_backends_status_and_details(enforced, fakes):
    stub = agents_pb2_grpc.AgentServiceStub(enforced.channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SpawnAgent(
            agents_pb2.SpawnAgentRequest(agent_class="c", task="expensive"),
            metadata=tuple(bearer(fakes.keys.mint()).items()),
        )
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert reason_of(caught.value)[0] == "COST_CEILING_EXCEEDED"
    assert "ceiling" in caught.value.details()


async def test_internal_services_are_unreachable_through_the_gateway(enforced, fakes):
    metadata = tuple(bearer(fakes.keys.mint()).items())
    calls = [
        policy_internal_pb2_grpc.PolicyServiceStub(enforced.channel).GetJwks(policy_internal_pb2.GetJwksRequest()),
        policy_internal_pb2_grpc.PolicyServiceStub(enforced.channel).Authorize(
            policy_internal_pb2.AuthorizeRequest(), metadata=metadata
        ),
        audit_internal_pb2_grpc.AuditWriterServiceStub(enforced.channel).AppendEvent(
            audit_internal_pb2.AppendEventRequest(), metadata=metadata
        ),
        status_pb2_grpc.StatusServiceStub(enforced.channel).GetStatus(status_pb2.GetStatusRequest()),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_grpc_health_reflection_and_native_health_service(enforced):
    check = await health_pb2_grpc.HealthStub(enforced.channel).Check(health_pb2.HealthCheckRequest(service=""))
    assert check.status == health_pb2.HealthCheckResponse.SERVING

    health = await aos_health_pb2_grpc.HealthServiceStub(enforced.channel).GetHealth(aos_health_pb2.GetHealthRequest())
    assert health.status == "ok" and health.scheduler.workers == 2

    reflect = reflection_pb2_grpc.ServerReflectionStub(enforced.channel)

    async def ask(**request):
        responses = reflect.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(**request)]))
        async for response in responses:
            return response
        raise AssertionError("no reflection answer")

    listed = {s.name for s in (await ask(list_services="")).list_services_response.service}
    assert "aos.v1.AgentService" in listed and "aos.v1.HealthService" in listed
    assert listed.isdisjoint({"aos.v1.PolicyService", "aos.v1.AuditWriterService", "aos.v1.StatusService"})
    found = await ask(file_containing_symbol="aos.v1.AgentService")
    assert found.file_descriptor_response.file_descriptor_proto
    for internal in ("aos.v1.PolicyService", "aos.v1.StatusService", "aos.v1.AuthorizeRequest"):
        refused = await ask(file_containing_symbol=internal)
        assert refused.HasField("error_response"), internal
