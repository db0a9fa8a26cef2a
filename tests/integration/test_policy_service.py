"""The policy service over real gRPC and a real database, with a fake audit writer.

The audit writer is faked in-process so each test can see exactly what was
appended, and switch it off to prove that nothing is allowed unaudited.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import grpc
import pytest
from typer.testing import CliRunner

from aos.v1 import agent_classes_pb2 as classes_pb
from aos.v1 import agent_classes_pb2_grpc as classes_grpc
from aos.v1 import approvals_pb2 as approvals_pb
from aos.v1 import approvals_pb2_grpc as approvals_grpc
from aos.v1 import audit_internal_pb2 as audit_pb
from aos.v1 import audit_internal_pb2_grpc as audit_grpc
from aos.v1 import policy_internal_pb2 as pb
from aos.v1 import policy_internal_pb2_grpc as policy_grpc
from aos.v1 import status_pb2, status_pb2_grpc
from aos.v1 import tokens_pb2 as tokens_pb
from aos.v1 import tokens_pb2_grpc as tokens_grpc
from aos_common import events
from aos_common.canonical import args_hash, canonical_json
from aos_common.errors import AosError
from aos_common.grpc_server import bind, build_server
from aos_common.provenance import on_chain
from aos_common.rpc import bearer_metadata, call, reason_of
from aos_common.tokens import Claims, kid_of
from aos_common.tokens import verify as verify_signature
from aosiq import cli_approvals, cli_classes, cli_tokens
from policy_svc.authority import TokenAuthority
from policy_svc.bootstrap import ensure_bootstrap_token
from policy_svc.config import PolicyConfig
from policy_svc.server import Policy, build

if TYPE_CHECKING:
    from tests.conftest import TestDatabase


class FakeAuditWriter(audit_grpc.AuditWriterServiceServicer):
    def __init__(self) -> None:
        self.events: list[audit_pb.AppendEventRequest] = []
        self.down = False

    async def AppendEvent(self, request, context):
        if self.down:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "audit is down")
        self.events.append(request)
        return audit_pb.AppendEventResponse(chain_seq=len(self.events))

    def of(self, event_type: str) -> list[dict]:
        return [json.loads(e.payload_json) for e in self.events if e.event_type == event_type]

    def requests_of(self, event_type: str) -> list[audit_pb.AppendEventRequest]:
        return [e for e in self.events if e.event_type == event_type]


@dataclass
class Env:
    policy: Policy
    audit: FakeAuditWriter
    db: TestDatabase
    admin_token: str
    syscalls: policy_grpc.PolicyServiceStub
    tokens: tokens_grpc.TokenServiceStub
    classes: classes_grpc.AgentClassServiceStub
    approvals: approvals_grpc.ApprovalServiceStub
    status: status_pb2_grpc.StatusServiceStub
    address: str

    def md(self, token: str | None = None):
        return bearer_metadata(token or self.admin_token)

    async def sql(self, query: str, *args):
        conn = await asyncpg.connect(self.db.admin_dsn)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()


@pytest.fixture(scope="module")
async def env(db: TestDatabase, tmp_path_factory: pytest.TempPathFactory):
    home: Path = tmp_path_factory.mktemp("policy")
    audit = FakeAuditWriter()
    audit_server = grpc.aio.server()
    audit_grpc.add_AuditWriterServiceServicer_to_server(audit, audit_server)
    audit_port = audit_server.add_insecure_port("127.0.0.1:0")
    await audit_server.start()

    token_file = home / "secrets" / "admin.token"
    config = PolicyConfig(
        listen="127.0.0.1:0",
        database_url=db.dsn("policy"),
        audit_address=f"127.0.0.1:{audit_port}",
        key_dir=home / "keys",
        bootstrap_token_file=token_file,
    )
    policy = await build(config)
    server, _health, _names = build_server([policy.register])
    port = bind(server, "127.0.0.1:0")
    await server.start()
    await ensure_bootstrap_token(policy.authority, policy.store, policy.audit, token_file, 86400)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield Env(
        policy=policy, audit=audit, db=db, admin_token=token_file.read_text().strip(),
        syscalls=policy_grpc.PolicyServiceStub(channel), tokens=tokens_grpc.TokenServiceStub(channel),
        classes=classes_grpc.AgentClassServiceStub(channel), approvals=approvals_grpc.ApprovalServiceStub(channel),
        status=status_pb2_grpc.StatusServiceStub(channel), address=f"127.0.0.1:{port}",
    )
    await channel.close()
    await server.stop(None)
    await policy.close()
    await audit_server.stop(None)


async def refused(awaitable) -> AosError:
    try:
        await call(awaitable, "policy")
    except AosError as error:
        return error
    raise AssertionError("the call was not refused")


async def make_class(env: Env, name: str, *, caps=("fs.read_file", "fs.delete_file", "agents.spawn"),
                     allowed=("anthropic",), ceiling=1.0, untrusted_args: str = "") -> None:
    await call(env.classes.CreateAgentClass(classes_pb.CreateAgentClassRequest(
        name=name, backend=allowed[0], model="aos-scripted", allowed_backends=list(allowed),
        capabilities=list(caps), cost_ceiling_usd=ceiling, untrusted_args=untrusted_args), metadata=env.md()),
        "policy")


async def spawn(env: Env, cls: str, grants=("fs.read_file", "fs.delete_file", "agents.spawn"), *,
                caller: str | None = None, session_id: str = "") -> pb.MintAgentTokenResponse:
    return await call(env.syscalls.MintAgentToken(pb.MintAgentTokenRequest(
        caller_token=caller or env.admin_token, agent_class=cls, requested_grants=list(grants),
        session_id=session_id, agent_id=str(uuid.uuid4()))), "policy")


async def register(env: Env, name: str, reversible: bool, open_world: bool = False) -> None:
    await call(env.syscalls.RegisterTools(pb.RegisterToolsRequest(
        tools=[pb.ToolSpec(name=name, reversible=reversible, blast_radius="low" if reversible else "high",
                           open_world=open_world)])),
        "policy")


def tool_call(token: str, tool: str, args: dict, approval_id: str = "", digest: str | None = None,
              labels: dict[str, str] | None = None):
    return pb.AuthorizeRequest(token=token, kind=pb.SYSCALL_KIND_TOOL_CALL, target=tool,
                               args_canonical=canonical_json(args).decode(),
                               args_hash=digest or args_hash(args), approval_id=approval_id,
                               arg_provenance=labels or {})


def llm_call(token: str, backend: str = "anthropic", max_in: int = 1000, max_out: int = 100):
    return pb.AuthorizeRequest(token=token, kind=pb.SYSCALL_KIND_LLM_CALL, target=backend, model="aos-scripted",
                               max_input_tokens=max_in, max_output_tokens=max_out)


async def mint_operator(env: Env, subject: str, grants, caller: str | None = None, ttl: int = 0):
    return await call(env.tokens.MintToken(tokens_pb.MintTokenRequest(subject=subject, grants=list(grants),
                                                                      ttl_seconds=ttl), metadata=env.md(caller)),
                      "policy")


# --- basics


async def test_status_and_jwks_publish_public_keys_only(env: Env) -> None:
    status = await env.status.GetStatus(status_pb2.GetStatusRequest())
    assert status.service == "policy"
    jwks = json.loads((await env.syscalls.GetJwks(pb.GetJwksRequest())).jwks_json)
    assert jwks["keys"] and all("d" not in key for key in jwks["keys"])
    assert kid_of(env.admin_token) in {key["kid"] for key in jwks["keys"]}


async def test_bootstrap_token_is_private_audited_and_kept_while_valid(env: Env) -> None:
    path = env.policy.config.bootstrap_token_file
    assert path is not None
    assert path.stat().st_mode & 0o777 == 0o600
    minted = [p for p in env.audit.of(events.TOKEN_MINTED) if p["subject"] == "bootstrap-admin"]
    assert len(minted) == 1 and minted[0]["grants"] == ["*"]
    assert env.audit.requests_of(events.TOKEN_MINTED)[0].session_id == events.SYSTEM_SESSION_ID
    await ensure_bootstrap_token(env.policy.authority, env.policy.store, env.policy.audit, path, 86400)
    assert path.read_text().strip() == env.admin_token  # still valid: not re-minted


async def test_missing_token_is_refused_and_expired_token_says_so(env: Env) -> None:
    error = await refused(env.classes.ListAgentClasses(classes_pb.ListAgentClassesRequest()))
    assert error.reason == "UNAUTHENTICATED"
    expired = Claims(jti=str(uuid.uuid4()), subject="old", kind="operator", capabilities=frozenset({"*"}),
                     backends=frozenset({"*"}), issued_at=int(time.time()) - 100, expires_at=int(time.time()) - 10)
    token, _ = env.policy.keys.sign(expired.to_payload())
    error = await refused(env.classes.ListAgentClasses(classes_pb.ListAgentClassesRequest(), metadata=env.md(token)))
    assert error.reason == "TOKEN_EXPIRED"


# --- agent classes


async def test_class_validation_duplicates_and_audit(env: Env) -> None:
    bad: list[dict[str, Any]] = [
        dict(name="Bad Name", backend="anthropic", allowed=["anthropic"], caps=["x"], ceiling=1.0),
        dict(name="c1", backend="mistral", allowed=["mistral"], caps=["x"], ceiling=1.0),
        dict(name="c1", backend="anthropic", allowed=["openai"], caps=["x"], ceiling=1.0),
        dict(name="c1", backend="anthropic", allowed=[], caps=["x"], ceiling=1.0),
        dict(name="c1", backend="anthropic", allowed=["anthropic"], caps=[], ceiling=1.0),
        dict(name="c1", backend="anthropic", allowed=["anthropic"], caps=["*"], ceiling=1.0),
        dict(name="c1", backend="anthropic", allowed=["anthropic"], caps=["x"], ceiling=0.0),
        dict(name="c1", backend="anthropic", allowed=["anthropic"], caps=["x"], ceiling=float("inf")),
        dict(name="c1", backend="anthropic", allowed=["anthropic"], caps=["x"], ceiling=float("nan")),
    ]
    for case in bad:
        error = await refused(env.classes.CreateAgentClass(classes_pb.CreateAgentClassRequest(
            name=case["name"], backend=case["backend"], model="m", allowed_backends=case["allowed"],
            capabilities=case["caps"], cost_ceiling_usd=case["ceiling"]), metadata=env.md()))
        assert error.reason == "INVALID_ARGUMENT", case
    await make_class(env, "dup")
    error = await refused(env.classes.CreateAgentClass(classes_pb.CreateAgentClassRequest(
        name="dup", backend="anthropic", model="m", allowed_backends=["anthropic"], capabilities=["x"],
        cost_ceiling_usd=1.0), metadata=env.md()))
    assert error.reason == "ALREADY_EXISTS"
    assert [p["name"] for p in env.audit.of(events.AGENT_CLASS_CREATED)].count("dup") == 1
    got = await env.classes.GetAgentClass(classes_pb.GetAgentClassRequest(name="dup"), metadata=env.md())
    assert got.agent_class.allowed_backends == ["anthropic"]
    missing = await refused(env.classes.GetAgentClass(classes_pb.GetAgentClassRequest(name="nope"),
                                                      metadata=env.md()))
    assert missing.reason == "NOT_FOUND"


async def test_creating_a_class_needs_classes_write(env: Env) -> None:
    reader = await mint_operator(env, "reader", ["approvals.read"])
    error = await refused(env.classes.CreateAgentClass(classes_pb.CreateAgentClassRequest(
        name="sneaky", backend="anthropic", model="m", allowed_backends=["anthropic"], capabilities=["x"],
        cost_ceiling_usd=1.0), metadata=env.md(reader.token)))
    assert error.reason == "INSUFFICIENT_AUTHORITY"


# --- spawning


async def test_spawn_with_empty_intersection_is_refused_and_records_nothing(env: Env) -> None:
    await make_class(env, "narrow", caps=("fs.read_file",))
    tokens_before = len(await env.sql("SELECT jti FROM policy.capability_tokens"))
    ledgers_before = len(await env.sql("SELECT session_id FROM policy.cost_ledger"))
    audited_before = len(env.audit.events)
    for grants in (["fs.delete_file"], []):
        error = await refused(env.syscalls.MintAgentToken(pb.MintAgentTokenRequest(
            caller_token=env.admin_token, agent_class="narrow", requested_grants=grants, agent_id="a-empty")))
        assert error.reason == "INSUFFICIENT_AUTHORITY"
    # The caller's own claims clamp too: a caller without fs.read_file gets nothing.
    caller = await mint_operator(env, "deleter", ["fs.delete_file"])
    audited_before += 1
    error = await refused(env.syscalls.MintAgentToken(pb.MintAgentTokenRequest(
        caller_token=caller.token, agent_class="narrow", requested_grants=["fs.read_file"], agent_id="a-empty")))
    assert error.reason == "INSUFFICIENT_AUTHORITY"
    assert len(await env.sql("SELECT jti FROM policy.capability_tokens")) == tokens_before + 1  # the caller's
    assert len(await env.sql("SELECT session_id FROM policy.cost_ledger")) == ledgers_before
    assert len(env.audit.events) == audited_before


async def test_spawn_narrows_and_audits_and_children_join_the_session(env: Env) -> None:
    await make_class(env, "family", caps=("fs.read_file", "agents.spawn"))
    parent = await spawn(env, "family", ("fs.read_file", "fs.delete_file", "agents.spawn"))
    assert sorted(parent.grants) == ["agents.spawn", "fs.read_file"]
    spawned = env.audit.of(events.AGENT_SPAWNED)[-1]
    assert spawned["token_jti"] == parent.jti and spawned["grants"] == sorted(parent.grants)
    assert env.audit.requests_of(events.AGENT_SPAWNED)[-1].session_id == parent.session_id
    child = await spawn(env, "family", ("fs.read_file",), caller=parent.token)
    assert child.session_id == parent.session_id and list(child.grants) == ["fs.read_file"]
    assert child.expires_at_unix <= parent.expires_at_unix
    assert env.audit.of(events.AGENT_SPAWNED)[-1]["parent_agent_id"]
    # A child without agents.spawn cannot spawn, and no child may pick another session.
    error = await refused(env.syscalls.MintAgentToken(pb.MintAgentTokenRequest(
        caller_token=child.token, agent_class="family", requested_grants=["fs.read_file"], agent_id="gc")))
    assert error.reason == "INSUFFICIENT_AUTHORITY"
    other = await spawn(env, "family", ("fs.read_file",))
    error = await refused(env.syscalls.MintAgentToken(pb.MintAgentTokenRequest(
        caller_token=parent.token, agent_class="family", requested_grants=["fs.read_file"],
        session_id=other.session_id, agent_id="stray")))
    assert error.reason == "INSUFFICIENT_AUTHORITY"
    error = await refused(env.syscalls.MintAgentToken(pb.MintAgentTokenRequest(
        caller_token=env.admin_token, agent_class="family", requested_grants=["fs.read_file"],
        session_id=str(uuid.uuid4()), agent_id="lost")))
    assert error.reason == "NOT_FOUND"
    error = await refused(env.syscalls.MintAgentToken(pb.MintAgentTokenRequest(
        caller_token=env.admin_token, agent_class="no-such-class", requested_grants=["x"], agent_id="x")))
    assert error.reason == "NOT_FOUND"


async def test_a_server_pattern_grants_its_tools_and_never_widens_an_exact_grant(env: Env) -> None:
    await make_class(env, "git-user", caps=("mcp.git.*", "agents.spawn"))
    await register(env, "mcp.git.git_status", reversible=True)
    await register(env, "mcp.git.git_reset", reversible=False)
    await register(env, "mcp.gitx.git_status", reversible=True)
    whole = await spawn(env, "git-user", ("mcp.git.*", "mcp.gitx.*", "agents.spawn"))
    assert sorted(whole.grants) == ["agents.spawn", "mcp.git.*"]
    status = await env.syscalls.Authorize(tool_call(whole.token, "mcp.git.git_status", {}))
    assert status.decision == pb.DECISION_ALLOW
    other = await env.syscalls.Authorize(tool_call(whole.token, "mcp.gitx.git_status", {}))
    assert other.decision == pb.DECISION_DENY and other.reason == "INSUFFICIENT_AUTHORITY"
    # A parent holding one tool exactly passes on that tool, however broadly its child asks.
    parent = await spawn(env, "git-user", ("mcp.git.git_status", "agents.spawn"))
    child = await spawn(env, "git-user", ("mcp.git.*",), caller=parent.token)
    assert list(child.grants) == ["mcp.git.git_status"]
    reset = await env.syscalls.Authorize(tool_call(child.token, "mcp.git.git_reset", {}))
    assert reset.decision == pb.DECISION_DENY and reset.reason == "INSUFFICIENT_AUTHORITY"
    # Deciding an approval for one of the server's tools: its pattern is authority enough, another's is not.
    args = {"to": "HEAD~1"}
    pending = await env.syscalls.Authorize(tool_call(whole.token, "mcp.git.git_reset", args))
    assert pending.decision == pb.DECISION_PENDING
    decide = approvals_pb.ApproveRequest(approval_id=pending.approval_id, args_hash=args_hash(args))
    outsider = await mint_operator(env, "gitx-approver", ["approvals.decide", "approvals.read", "mcp.gitx.*"])
    error = await refused(env.approvals.Approve(decide, metadata=env.md(outsider.token)))
    assert error.reason == "INSUFFICIENT_AUTHORITY"
    approver = await mint_operator(env, "git-approver", ["approvals.decide", "approvals.read", "mcp.git.*"])
    assert "mcp.git.*" in approver.grants
    approved = await env.approvals.Approve(decide, metadata=env.md(approver.token))
    assert approved.approval.state == "approved"


async def test_a_star_other_than_alone_or_a_server_pattern_is_refused_where_grants_enter(env: Env) -> None:
    await make_class(env, "stars", caps=("fs.read_file",))
    tokens_before = len(await env.sql("SELECT jti FROM policy.capability_tokens"))
    for misuse in ("fs.*", "mcp.*", "mcp.a*.x", "mcp.Git.*"):
        error = await refused(env.classes.CreateAgentClass(classes_pb.CreateAgentClassRequest(
            name="starry", backend="anthropic", model="m", allowed_backends=["anthropic"],
            capabilities=["fs.read_file", misuse], cost_ceiling_usd=1.0), metadata=env.md()))
        assert error.reason == "INVALID_ARGUMENT", misuse
        error = await refused(env.syscalls.MintAgentToken(pb.MintAgentTokenRequest(
            caller_token=env.admin_token, agent_class="stars", requested_grants=["fs.read_file", misuse],
            agent_id="a-star")))
        assert error.reason == "INVALID_ARGUMENT", misuse
        error = await refused(env.tokens.MintToken(tokens_pb.MintTokenRequest(
            subject="starry", grants=["fs.read_file", misuse]), metadata=env.md()))
        assert error.reason == "INVALID_ARGUMENT", misuse
    assert len(await env.sql("SELECT jti FROM policy.capability_tokens")) == tokens_before
    # `*` alone still asks for all the caller holds, within the class.
    assert list((await spawn(env, "stars", ("*",))).grants) == ["fs.read_file"]


async def make_limited_class(env: Env, name: str, *, max_agents: int = 0, max_depth: int = 0) -> None:
    await call(env.classes.CreateAgentClass(classes_pb.CreateAgentClassRequest(
        name=name, backend="anthropic", model="aos-scripted", allowed_backends=["anthropic"],
        capabilities=["fs.read_file", "agents.spawn"], cost_ceiling_usd=1.0, max_agents=max_agents,
        max_depth=max_depth), metadata=env.md()), "policy")


async def test_concurrent_spawns_never_pass_the_sessions_agent_count(env: Env) -> None:
    await make_limited_class(env, "crowd", max_agents=5)
    root = await spawn(env, "crowd", ("fs.read_file", "agents.spawn"))
    answers = await asyncio.gather(*[
        env.syscalls.MintAgentToken(pb.MintAgentTokenRequest(
            caller_token=root.token, agent_class="crowd", requested_grants=["fs.read_file"],
            agent_id=str(uuid.uuid4())))
        for _ in range(20)
    ], return_exceptions=True)
    minted = [a for a in answers if isinstance(a, pb.MintAgentTokenResponse)]
    refusals = [a for a in answers if isinstance(a, grpc.aio.AioRpcError)]
    assert len(minted) == 4  # the root is the fifth
    assert len(minted) + len(refusals) == len(answers)
    assert {reason_of(error)[0] for error in refusals} == {"AGENT_LIMIT_EXCEEDED"}
    assert {error.code() for error in refusals} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
    (count,) = await env.sql("SELECT count(*) AS n FROM policy.capability_tokens WHERE session_id = $1",
                             uuid.UUID(root.session_id))
    assert count["n"] == 5
    # An operator joining the session is counted the same way.
    error = await refused(env.syscalls.MintAgentToken(pb.MintAgentTokenRequest(
        caller_token=env.admin_token, agent_class="crowd", requested_grants=["fs.read_file"],
        session_id=root.session_id, agent_id=str(uuid.uuid4()))))
    assert error.reason == "AGENT_LIMIT_EXCEEDED" and "max_agents 5" in error.message


async def test_spawn_depth_is_bounded_by_the_class_then_the_deployment(env: Env) -> None:
    await make_limited_class(env, "deep", max_depth=2)
    chain = [await spawn(env, "deep", ("fs.read_file", "agents.spawn"))]
    for _ in range(2):
        chain.append(await spawn(env, "deep", ("fs.read_file", "agents.spawn"), caller=chain[-1].token))
    error = await refused(env.syscalls.MintAgentToken(pb.MintAgentTokenRequest(
        caller_token=chain[-1].token, agent_class="deep", requested_grants=["fs.read_file"], agent_id="too-deep")))
    assert error.reason == "AGENT_LIMIT_EXCEEDED" and "max_depth 2" in error.message
    assert [e["depth"] for e in env.audit.of(events.AGENT_SPAWNED)[-3:]] == [0, 1, 2]
    # A class that sets no limit gets the deployment's default depth (AOS_MAX_SPAWN_DEPTH, 4).
    await make_limited_class(env, "defaulted")
    chain = [await spawn(env, "defaulted", ("fs.read_file", "agents.spawn"))]
    for _ in range(env.policy.config.max_spawn_depth):
        chain.append(await spawn(env, "defaulted", ("fs.read_file", "agents.spawn"), caller=chain[-1].token))
    error = await refused(env.syscalls.MintAgentToken(pb.MintAgentTokenRequest(
        caller_token=chain[-1].token, agent_class="defaulted", requested_grants=["fs.read_file"], agent_id="x5")))
    assert error.reason == "AGENT_LIMIT_EXCEEDED"
    listed = await call(env.classes.GetAgentClass(classes_pb.GetAgentClassRequest(name="deep"), metadata=env.md()),
                        "policy")
    assert (listed.agent_class.max_agents, listed.agent_class.max_depth) == (0, 2)
    error = await refused(env.classes.CreateAgentClass(classes_pb.CreateAgentClassRequest(
        name="negative", backend="anthropic", model="m", allowed_backends=["anthropic"], capabilities=["x"],
        cost_ceiling_usd=1.0, max_agents=-1), metadata=env.md()))
    assert error.reason == "INVALID_ARGUMENT" and "max_agents" in error.message


# --- approvals


async def test_approval_flow_binds_args_and_is_single_use(env: Env) -> None:
    await make_class(env, "cleaner")
    await register(env, "fs.delete_file", reversible=False)
    agent = await spawn(env, "cleaner")
    args = {"path": "notes/old.txt"}
    first = await env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", args))
    assert first.decision == pb.DECISION_PENDING and first.approval_id
    requested = env.audit.of(events.HUMAN_APPROVAL_REQUESTED)[-1]
    assert requested["approval_id"] == first.approval_id and "path" not in json.dumps(requested)
    again = await env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", args))
    assert again.approval_id == first.approval_id  # one request per (agent, tool, args)

    shown = (await env.approvals.GetApproval(approvals_pb.GetApprovalRequest(approval_id=first.approval_id),
                                             metadata=env.md())).approval
    assert shown.args_hash == args_hash(args) and shown.args_canonical == canonical_json(args).decode()
    assert dict(shown.args) == args and shown.state == "pending" and shown.blast_radius == "high"
    assert "fs.delete_file" in shown.capability_scope

    wrong = await refused(env.approvals.Approve(approvals_pb.ApproveRequest(
        approval_id=first.approval_id, args_hash=args_hash({"path": "notes/important.txt"})), metadata=env.md()))
    assert wrong.reason == "APPROVAL_ARGS_MISMATCH"
    still = await env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", args, first.approval_id))
    assert still.decision == pb.DECISION_PENDING

    approver = await mint_operator(env, "alice", ["approvals.decide", "approvals.read", "fs.delete_file"])
    approved = await env.approvals.Approve(approvals_pb.ApproveRequest(
        approval_id=first.approval_id, args_hash=shown.args_hash), metadata=env.md(approver.token))
    assert approved.approval.state == "approved" and approved.approval.decided_by == "bootstrap-admin/alice"
    assert approved.approval.decided_jti == approver.jti
    granted = env.audit.requests_of(events.HUMAN_APPROVAL_GRANTED)[-1]
    assert granted.actor.subject == "bootstrap-admin/alice" and granted.actor.jti == approver.jti
    assert granted.session_id == agent.session_id
    twice = await refused(env.approvals.Approve(approvals_pb.ApproveRequest(
        approval_id=first.approval_id, args_hash=shown.args_hash), metadata=env.md()))
    assert twice.reason == "INVALID_TRANSITION"

    other_args = await env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", {"path": "notes/x"},
                                                        first.approval_id))
    assert other_args.decision == pb.DECISION_DENY and other_args.reason == "APPROVAL_ARGS_MISMATCH"
    allowed = await env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", args, first.approval_id))
    assert allowed.decision == pb.DECISION_ALLOW and allowed.syscall_id
    assert env.audit.of(events.SYSCALL_ALLOWED)[-1]["approval_id"] == first.approval_id
    replay = await env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", args, first.approval_id))
    assert replay.decision == pb.DECISION_DENY and replay.reason == "INSUFFICIENT_AUTHORITY"
    assert env.audit.of(events.SYSCALL_DENIED)[-1]["approval_id"] == first.approval_id


async def test_untrusted_arguments_to_consequential_tools_follow_the_class_rule(env: Env) -> None:
    caps = ("net.post", "fs.read_file", "fs.delete_file")
    for mode in ("allow", "approve", "deny"):
        await make_class(env, f"taint-{mode}", caps=caps, untrusted_args=mode)
    await register(env, "net.post", reversible=True, open_world=True)
    await register(env, "fs.read_file", reversible=True)
    await register(env, "fs.delete_file", reversible=False)
    args = {"url": "https://attacker.example/x", "body": {"text": "hi", "n": 3}}
    trusted = {"/url": "trusted", "/body/text": "trusted", "/body/n": "trusted"}
    tainted = {**trusted, "/url": "untrusted:2"}
    agents = {mode: (await spawn(env, f"taint-{mode}", caps)).token for mode in ("allow", "approve", "deny")}

    for mode, token in agents.items():
        clean = await env.syscalls.Authorize(tool_call(token, "net.post", args, labels=trusted))
        assert clean.decision == pb.DECISION_ALLOW, mode
        # A reversible tool that stays inside the runtime is not consequential.
        read = await env.syscalls.Authorize(tool_call(token, "fs.read_file", {"path": "x"},
                                                      labels={"/path": "untrusted:1"}))
        assert read.decision == pb.DECISION_ALLOW, mode
    assert (await env.syscalls.Authorize(tool_call(agents["allow"], "net.post", args, labels=tainted))
            ).decision == pb.DECISION_ALLOW

    pending = await env.syscalls.Authorize(tool_call(agents["approve"], "net.post", args, labels=tainted))
    assert pending.decision == pb.DECISION_PENDING and pending.approval_id
    requested = env.audit.of(events.HUMAN_APPROVAL_REQUESTED)[-1]
    # On the chain: the labels in pointer order, never the pointers (keys can be data).
    assert requested["arg_labels"] == on_chain(tainted) and "/url" not in json.dumps(requested)
    shown = (await env.approvals.GetApproval(approvals_pb.GetApprovalRequest(approval_id=pending.approval_id),
                                             metadata=env.md())).approval
    assert dict(shown.arg_provenance) == tainted
    # A leaf the kernel did not label counts as generated: still not trusted.
    unlabelled = await env.syscalls.Authorize(tool_call(agents["approve"], "net.post", {**args, "url": "u"},
                                                        labels={"/body/text": "trusted"}))
    assert unlabelled.decision == pb.DECISION_PENDING
    approver = await mint_operator(env, "carol", ["approvals.decide", "approvals.read", "net.post"])
    await env.approvals.Approve(approvals_pb.ApproveRequest(approval_id=pending.approval_id,
                                                            args_hash=shown.args_hash), metadata=env.md(approver.token))
    used = await env.syscalls.Authorize(tool_call(agents["approve"], "net.post", args, pending.approval_id,
                                                  labels=tainted))
    assert used.decision == pb.DECISION_ALLOW
    assert env.audit.of(events.SYSCALL_ALLOWED)[-1]["arg_labels"] == on_chain(tainted)

    for tool, call_args, labels in (("net.post", args, tainted),
                                    ("fs.delete_file", {"path": "a"}, {"/path": "generated"})):
        denied = await env.syscalls.Authorize(tool_call(agents["deny"], tool, call_args, labels=labels))
        assert denied.decision == pb.DECISION_DENY and denied.reason == "UNTRUSTED_ARGUMENT", tool
        record = env.audit.of(events.SYSCALL_DENIED)[-1]
        assert record["reason"] == "UNTRUSTED_ARGUMENT" and record["arg_labels"] == on_chain(labels)

    for bad in ({"/url": "untrusted:0"}, {"/url": "maybe"}, {"/nowhere": "trusted"}):
        wrong = await env.syscalls.Authorize(tool_call(agents["allow"], "net.post", args, labels=bad))
        assert wrong.decision == pb.DECISION_DENY and wrong.reason == "INVALID_ARGUMENT", bad
    invalid = await refused(env.classes.CreateAgentClass(classes_pb.CreateAgentClassRequest(
        name="taint-bad", backend="anthropic", model="m", allowed_backends=["anthropic"], capabilities=["net.post"],
        cost_ceiling_usd=1, untrusted_args="sometimes"), metadata=env.md()))
    assert invalid.reason == "INVALID_ARGUMENT" and "untrusted_args" in invalid.message


async def test_concurrent_uses_of_one_approval_allow_exactly_once(env: Env) -> None:
    await make_class(env, "racer")
    await register(env, "fs.delete_file", reversible=False)
    agent = await spawn(env, "racer")
    args = {"path": "race.txt"}
    pending = await env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", args))
    await env.approvals.Approve(approvals_pb.ApproveRequest(approval_id=pending.approval_id,
                                                            args_hash=args_hash(args)), metadata=env.md())
    results = await asyncio.gather(*[
        env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", args, pending.approval_id))
        for _ in range(10)
    ])
    allows = [r for r in results if r.decision == pb.DECISION_ALLOW]
    assert len(allows) == 1


# --- approval quorum (docs/POLICY.md "Approval quorum")


async def make_quorum_class(env: Env, name: str, quorum: dict[str, int], *, excludes_spawner: bool = False,
                            ttl: int = 0) -> classes_pb.AgentClass:
    created = await call(env.classes.CreateAgentClass(classes_pb.CreateAgentClassRequest(
        name=name, backend="anthropic", model="aos-scripted", allowed_backends=["anthropic"],
        capabilities=["fs.read_file", "fs.delete_file", "agents.spawn"], cost_ceiling_usd=1.0,
        approval_quorum=quorum, approval_excludes_spawner=excludes_spawner, approval_ttl_seconds=ttl),
        metadata=env.md()), "policy")
    return created.agent_class


DECIDER = ("approvals.decide", "approvals.read", "fs.delete_file")


def approve(env: Env, approval_id: str, args: dict, token: str):
    return env.approvals.Approve(approvals_pb.ApproveRequest(approval_id=approval_id, args_hash=args_hash(args)),
                                 metadata=env.md(token))


async def approvers_recorded(env: Env, approval_id: str) -> list[str]:
    rows = await env.sql("SELECT subject FROM policy.approval_approvers WHERE approval_id = $1 ORDER BY subject",
                         uuid.UUID(approval_id))
    return [r["subject"] for r in rows]


async def test_a_quorum_of_two_needs_two_distinct_operators_on_the_same_hash(env: Env) -> None:
    shown_class = await make_quorum_class(env, "two-person", {"high": 2})
    assert dict(shown_class.approval_quorum) == {"high": 2}
    await register(env, "fs.delete_file", reversible=False)
    agent = await spawn(env, "two-person")
    args = {"path": "ledger.db"}
    pending = await env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", args))
    assert pending.decision == pb.DECISION_PENDING
    assert env.audit.of(events.HUMAN_APPROVAL_REQUESTED)[-1]["approvals_required"] == 2
    alice = await mint_operator(env, "q-alice", [*DECIDER, "agents.spawn"])
    bob = await mint_operator(env, "q-bob", DECIDER)

    first = (await approve(env, pending.approval_id, args, alice.token)).approval
    assert first.state == "pending" and (first.approvals_given, first.approvals_required) == (1, 2)
    assert [(a.subject, a.jti) for a in first.approvers] == [(alice.subject, alice.jti)]
    waiting = await env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", args, pending.approval_id))
    assert waiting.decision == pb.DECISION_PENDING

    again = await refused(approve(env, pending.approval_id, args, alice.token))
    assert again.reason == "INVALID_TRANSITION" and "already approved" in again.message
    # A subject alice minted is alice again: she could mint as many as a quorum needs.
    sock = await mint_operator(env, "sock", DECIDER, caller=alice.token)
    puppet = await refused(approve(env, pending.approval_id, args, sock.token))
    assert puppet.reason == "INSUFFICIENT_AUTHORITY" and "one operator" in puppet.message
    other_hash = await refused(approve(env, pending.approval_id, {"path": "other.db"}, bob.token))
    assert other_hash.reason == "APPROVAL_ARGS_MISMATCH"
    assert await approvers_recorded(env, pending.approval_id) == [alice.subject]
    still = await env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", args, pending.approval_id))
    assert still.decision == pb.DECISION_PENDING

    second = (await approve(env, pending.approval_id, args, bob.token)).approval
    assert second.state == "approved" and (second.approvals_given, second.approvals_required) == (2, 2)
    assert second.decided_by == bob.subject
    results = [await env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", args, pending.approval_id))
               for _ in range(3)]
    assert [r.decision for r in results] == [pb.DECISION_ALLOW, pb.DECISION_DENY, pb.DECISION_DENY]

    given = [e for e in env.audit.requests_of(events.HUMAN_APPROVAL_GIVEN)
             if json.loads(e.payload_json)["approval_id"] == pending.approval_id]
    assert len(given) == 1 and given[0].actor.subject == alice.subject and given[0].actor.jti == alice.jti
    assert json.loads(given[0].payload_json) | {"approver_jti": alice.jti, "approvals_given": 1,
                                                  "approvals_required": 2} == json.loads(given[0].payload_json)
    granted = [e for e in env.audit.requests_of(events.HUMAN_APPROVAL_GRANTED)
               if json.loads(e.payload_json)["approval_id"] == pending.approval_id]
    assert len(granted) == 1 and granted[0].actor.jti == bob.jti and granted[0].session_id == agent.session_id
    assert json.loads(granted[0].payload_json)["approvers"] == [{"subject": alice.subject, "jti": alice.jti},
                                                                 {"subject": bob.subject, "jti": bob.jti}]

    # A radius the class does not name needs one approval.
    low = await make_quorum_class(env, "two-person-medium", {"medium": 2})
    assert dict(low.approval_quorum) == {"medium": 2}
    solo = await spawn(env, "two-person-medium")
    one = await env.syscalls.Authorize(tool_call(solo.token, "fs.delete_file", args))
    assert (await approve(env, one.approval_id, args, alice.token)).approval.state == "approved"


async def test_concurrent_approvals_by_one_subject_count_once(env: Env) -> None:
    await make_quorum_class(env, "two-person-race", {"high": 2})
    await register(env, "fs.delete_file", reversible=False)
    agent = await spawn(env, "two-person-race")
    args = {"path": "race-one.txt"}
    pending = await env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", args))
    carol = await mint_operator(env, "q-carol", DECIDER)
    results = await asyncio.gather(*[call(approve(env, pending.approval_id, args, carol.token), "policy")
                                     for _ in range(20)], return_exceptions=True)
    accepted = [r for r in results if not isinstance(r, BaseException)]
    assert len(accepted) == 1 and accepted[0].approval.state == "pending"
    assert {r.reason for r in results if isinstance(r, AosError)} == {"INVALID_TRANSITION"}
    assert await approvers_recorded(env, pending.approval_id) == [carol.subject]
    shown = (await env.approvals.GetApproval(approvals_pb.GetApprovalRequest(approval_id=pending.approval_id),
                                             metadata=env.md())).approval
    assert shown.state == "pending" and shown.approvals_given == 1
    waiting = await env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", args, pending.approval_id))
    assert waiting.decision == pb.DECISION_PENDING


async def test_concurrent_approvals_by_distinct_subjects_reach_the_quorum_exactly(env: Env) -> None:
    await make_quorum_class(env, "three-person", {"high": 3})
    await register(env, "fs.delete_file", reversible=False)
    agent = await spawn(env, "three-person")
    args = {"path": "race-many.txt"}
    pending = await env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", args))
    deciders = [await mint_operator(env, f"q-many-{n}", DECIDER) for n in range(10)]
    results = await asyncio.gather(*[call(approve(env, pending.approval_id, args, d.token), "policy")
                                     for d in deciders], return_exceptions=True)
    accepted = [r.approval for r in results if not isinstance(r, BaseException)]
    assert len(accepted) == 3
    assert sorted(a.approvals_given for a in accepted) == [1, 2, 3]
    assert [a.state for a in accepted if a.approvals_given == 3] == ["approved"]
    assert {r.reason for r in results if isinstance(r, AosError)} == {"INVALID_TRANSITION"}
    recorded = await approvers_recorded(env, pending.approval_id)
    assert len(recorded) == 3 and set(recorded) <= {d.subject for d in deciders}
    mine = [json.loads(e.payload_json) for e in env.audit.events
            if e.event_type in (events.HUMAN_APPROVAL_GIVEN, events.HUMAN_APPROVAL_GRANTED)
            and json.loads(e.payload_json)["approval_id"] == pending.approval_id]
    assert [p["approvals_given"] for p in mine] == [1, 2, 3]
    assert sorted(p["approver_subject"] for p in mine) == recorded
    assert len(env.audit.of(events.HUMAN_APPROVAL_GRANTED)) == len(
        {p["approval_id"] for p in env.audit.of(events.HUMAN_APPROVAL_GRANTED)})  # each granted once
    uses = await asyncio.gather(*[
        env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", args, pending.approval_id))
        for _ in range(5)
    ])
    assert [u.decision for u in uses].count(pb.DECISION_ALLOW) == 1


async def test_the_spawner_cannot_count_toward_its_agents_approvals(env: Env) -> None:
    await make_quorum_class(env, "no-self-approval", {}, excludes_spawner=True)
    await register(env, "fs.delete_file", reversible=False)
    spawner = await mint_operator(env, "q-spawner", [*DECIDER, "fs.read_file", "agents.spawn"])
    agent = await spawn(env, "no-self-approval", caller=spawner.token)
    child = await call(env.syscalls.MintAgentToken(pb.MintAgentTokenRequest(
        caller_token=agent.token, agent_class="no-self-approval", requested_grants=["fs.delete_file"],
        agent_id=str(uuid.uuid4()))), "policy")
    minion = await mint_operator(env, "minion", DECIDER, caller=spawner.token)
    dave = await mint_operator(env, "q-dave", DECIDER)
    for token, args in ((agent.token, {"path": "mine.txt"}), (child.token, {"path": "childs.txt"})):
        pending = await env.syscalls.Authorize(tool_call(token, "fs.delete_file", args))
        assert env.audit.of(events.HUMAN_APPROVAL_REQUESTED)[-1]["excluded_approvers"] == [spawner.subject]
        for own in (spawner.token, minion.token):
            refusal = await refused(approve(env, pending.approval_id, args, own))
            assert refusal.reason == "INSUFFICIENT_AUTHORITY" and "started this agent's tree" in refusal.message
        assert await approvers_recorded(env, pending.approval_id) == []
        assert (await approve(env, pending.approval_id, args, dave.token)).approval.state == "approved"
        allowed = await env.syscalls.Authorize(tool_call(token, "fs.delete_file", args, pending.approval_id))
        assert allowed.decision == pb.DECISION_ALLOW

    # A class that does not exclude the spawner lets it approve.
    await make_quorum_class(env, "self-approval", {})
    own = await spawn(env, "self-approval", caller=spawner.token)
    args = {"path": "own.txt"}
    pending = await env.syscalls.Authorize(tool_call(own.token, "fs.delete_file", args))
    assert (await approve(env, pending.approval_id, args, spawner.token)).approval.state == "approved"


async def test_quorum_class_fields_are_validated_and_the_class_ttl_applies(env: Env) -> None:
    for quorum, ttl, field in (({"critical": 2}, 0, "approval_quorum"), ({"high": 11}, 0, "approval_quorum"),
                               ({"high": 0}, 0, "approval_quorum"), ({}, -5, "approval_ttl_seconds"),
                               ({}, 31 * 86400, "approval_ttl_seconds")):
        error = await refused(env.classes.CreateAgentClass(classes_pb.CreateAgentClassRequest(
            name="bad-quorum", backend="anthropic", model="m", allowed_backends=["anthropic"],
            capabilities=["fs.delete_file"], cost_ceiling_usd=1.0, approval_quorum=quorum,
            approval_ttl_seconds=ttl), metadata=env.md()))
        assert error.reason == "INVALID_ARGUMENT" and field in error.message
    created = await make_quorum_class(env, "quick-approvals", {"high": 2}, excludes_spawner=True, ttl=120)
    assert created.approval_excludes_spawner and created.approval_ttl_seconds == 120
    await register(env, "fs.delete_file", reversible=False)
    agent = await spawn(env, "quick-approvals")
    pending = await env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", {"path": "soon.txt"}))
    shown = (await env.approvals.GetApproval(approvals_pb.GetApprovalRequest(approval_id=pending.approval_id),
                                             metadata=env.md())).approval
    assert shown.expires_at.seconds - shown.created_at.seconds in (119, 120, 121)
    assert (shown.approvals_given, shown.approvals_required) == (0, 2)

async def test_denial_reason_reaches_the_agent_and_other_agents_cannot_use_it(env: Env) -> None:
    await make_class(env, "denied")
    await register(env, "fs.delete_file", reversible=False)
    agent = await spawn(env, "denied")
    intruder = await spawn(env, "denied")
    args = {"path": "prod.db"}
    pending = await env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", args))
    stolen = await env.syscalls.Authorize(tool_call(intruder.token, "fs.delete_file", args, pending.approval_id))
    assert stolen.decision == pb.DECISION_DENY
    denied = await env.approvals.Deny(approvals_pb.DenyRequest(approval_id=pending.approval_id,
                                                               reason="production database"), metadata=env.md())
    assert denied.approval.state == "denied"
    assert env.audit.requests_of(events.HUMAN_APPROVAL_DENIED)[-1].session_id == agent.session_id
    answer = await env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", args, pending.approval_id))
    assert answer.decision == pb.DECISION_DENY and "production database" in answer.message


async def test_pending_approvals_expire(env: Env) -> None:
    await make_class(env, "slow")
    await register(env, "fs.delete_file", reversible=False)
    agent = await spawn(env, "slow")
    args = {"path": "later.txt"}
    pending = await env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", args))
    await env.sql("UPDATE policy.approvals SET expires_at = now() - interval '1 second' WHERE approval_id = $1",
                  uuid.UUID(pending.approval_id))
    answer = await env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", args, pending.approval_id))
    assert answer.decision == pb.DECISION_DENY and "expired" in answer.message
    late = await refused(env.approvals.Approve(approvals_pb.ApproveRequest(
        approval_id=pending.approval_id, args_hash=args_hash(args)), metadata=env.md()))
    assert late.reason == "INVALID_TRANSITION"
    listed = await env.approvals.ListApprovals(approvals_pb.ListApprovalsRequest(state="expired"), metadata=env.md())
    assert pending.approval_id in {a.approval_id for a in listed.approvals}
    assert pending.approval_id in {p["approval_id"] for p in env.audit.of(events.HUMAN_APPROVAL_EXPIRED)}
    fresh = await env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", args))
    assert fresh.decision == pb.DECISION_PENDING and fresh.approval_id != pending.approval_id


async def test_agents_cannot_decide_approvals(env: Env) -> None:
    await make_class(env, "selfish", caps=("fs.delete_file", "approvals.decide"))
    await register(env, "fs.delete_file", reversible=False)
    agent = await spawn(env, "selfish", ("fs.delete_file", "approvals.decide"))
    args = {"path": "mine"}
    pending = await env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", args))
    error = await refused(env.approvals.Approve(approvals_pb.ApproveRequest(
        approval_id=pending.approval_id, args_hash=args_hash(args)), metadata=env.md(agent.token)))
    assert error.reason == "INSUFFICIENT_AUTHORITY"


# --- tool calls


async def test_tool_calls_check_capability_registration_and_hash(env: Env) -> None:
    await make_class(env, "reader", caps=("fs.read_file", "fs.list_dir", "fs.unregistered"))
    await register(env, "fs.read_file", reversible=True)
    agent = await spawn(env, "reader", ("fs.read_file", "fs.unregistered"))
    ok = await env.syscalls.Authorize(tool_call(agent.token, "fs.read_file", {"path": "a"}))
    assert ok.decision == pb.DECISION_ALLOW and ok.syscall_id
    cases = [
        (tool_call(agent.token, "fs.delete_file", {"path": "a"}), "INSUFFICIENT_AUTHORITY"),
        (tool_call(agent.token, "fs.unregistered", {"path": "a"}), "INSUFFICIENT_AUTHORITY"),
        (tool_call(agent.token, "fs.read_file", {"path": "a"}, digest=args_hash({"path": "b"})), "INVALID_ARGUMENT"),
    ]
    not_canonical = tool_call(agent.token, "fs.read_file", {"path": "a"})
    not_canonical.args_canonical = '{ "path": "a" }'
    not_canonical.args_hash = hashlib.sha256(not_canonical.args_canonical.encode()).hexdigest()
    cases.append((not_canonical, "INVALID_ARGUMENT"))
    for request, reason in cases:
        answer = await env.syscalls.Authorize(request)
        assert answer.decision == pb.DECISION_DENY and answer.reason == reason, request.target


async def test_irreversible_tool_cannot_be_reregistered_reversible(env: Env) -> None:
    await register(env, "db.drop_table", reversible=False)
    await register(env, "db.drop_table", reversible=True)
    rows = await env.sql("SELECT reversible FROM policy.tools WHERE name = 'db.drop_table'")
    assert rows[0]["reversible"] is False
    conn = await asyncpg.connect(env.db.dsn("policy"))
    try:
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("UPDATE tools SET reversible = true WHERE name = 'db.drop_table'")
    finally:
        await conn.close()
    await make_class(env, "dropper", caps=("db.drop_table",))
    agent = await spawn(env, "dropper", ("db.drop_table",))
    answer = await env.syscalls.Authorize(tool_call(agent.token, "db.drop_table", {"table": "users"}))
    assert answer.decision == pb.DECISION_PENDING


# --- LLM calls: backends and cost


async def test_backend_not_allowed_is_denied_and_audited(env: Env) -> None:
    await make_class(env, "local-only", caps=("fs.read_file",), allowed=("ollama",))
    agent = await spawn(env, "local-only", ("fs.read_file",))
    for backend in ("anthropic", "openai"):
        answer = await env.syscalls.Authorize(llm_call(agent.token, backend))
        assert answer.decision == pb.DECISION_DENY and answer.reason == "BACKEND_NOT_ALLOWED"
        denied = env.audit.of(events.SYSCALL_DENIED)[-1]
        assert denied["reason"] == "BACKEND_NOT_ALLOWED" and denied["target"] == backend
    assert (await env.syscalls.Authorize(llm_call(agent.token, "ollama"))).decision == pb.DECISION_ALLOW
    ledger = await env.syscalls.GetSessionCost(pb.GetSessionCostRequest(session_id=agent.session_id))
    assert ledger.reserved_usd > 0


async def test_fifty_concurrent_reservations_never_pass_the_ceiling(env: Env) -> None:
    ceiling = 0.1
    await make_class(env, "budget", caps=("fs.read_file",), ceiling=ceiling)
    agent = await spawn(env, "budget", ("fs.read_file",))
    started = time.perf_counter()
    answers = await asyncio.gather(*[env.syscalls.Authorize(llm_call(agent.token)) for _ in range(50)])
    elapsed = time.perf_counter() - started
    allowed = [a for a in answers if a.decision == pb.DECISION_ALLOW]
    denied = [a for a in answers if a.decision == pb.DECISION_DENY]
    assert {a.reason for a in denied} == {"COST_CEILING_EXCEEDED"}
    estimate = allowed[0].reserved_usd  # 1000 in + 100 out at 3/15 USD per Mtok = 0.0045
    assert estimate == pytest.approx(0.0045)
    assert len(allowed) == int(ceiling // estimate)
    ledger = await env.syscalls.GetSessionCost(pb.GetSessionCostRequest(session_id=agent.session_id))
    overshoot = max(0.0, ledger.reserved_usd + ledger.spent_usd - ledger.ceiling_usd)
    print(f"\n50 concurrent reservations: {len(allowed)} allowed, {len(denied)} denied, "
          f"reserved {ledger.reserved_usd:.4f} of {ledger.ceiling_usd}, overshoot {overshoot}, {elapsed:.2f}s")
    assert overshoot == 0
    assert len(env.audit.of(events.SYSCALL_DENIED)) >= len(denied)

    # Settling releases the reservation and counts the real usage, once.
    done = await env.syscalls.Complete(pb.CompleteRequest(token=agent.token, syscall_id=allowed[0].syscall_id,
                                                          ok=True, input_tokens=500, output_tokens=50))
    assert done.cost_usd == pytest.approx(0.00225)
    again = await env.syscalls.Complete(pb.CompleteRequest(token=agent.token, syscall_id=allowed[0].syscall_id,
                                                           ok=True, input_tokens=100000, output_tokens=100000))
    assert again.cost_usd == pytest.approx(0.00225) and again.session_spent_usd == pytest.approx(done.session_spent_usd)
    after = await env.syscalls.GetSessionCost(pb.GetSessionCostRequest(session_id=agent.session_id))
    assert after.spent_usd == pytest.approx(0.00225)
    assert after.reserved_usd == pytest.approx(ledger.reserved_usd - estimate)
    other = await spawn(env, "budget", ("fs.read_file",))
    error = await refused(env.syscalls.Complete(pb.CompleteRequest(token=other.token,
                                                                   syscall_id=allowed[1].syscall_id, ok=True)))
    assert error.reason == "INSUFFICIENT_AUTHORITY"


async def test_an_over_reported_completion_never_takes_spent_past_the_ceiling(env: Env) -> None:
    """A provider that replies past max_tokens (or lies about usage) is charged at most the reservation;
    the excess goes on the chain as its own event and the caller is told, so it can stop the agent."""
    ceiling = 0.01
    await make_class(env, "overrun", caps=("fs.read_file",), ceiling=ceiling)
    agent = await spawn(env, "overrun", ("fs.read_file",))
    first = await env.syscalls.Authorize(llm_call(agent.token))  # reserves 0.0045
    second = await env.syscalls.Authorize(llm_call(agent.token))  # reserves 0.0045; 0.009 of 0.01 held
    assert first.decision == second.decision == pb.DECISION_ALLOW
    # 100 000 output tokens at 15 USD/Mtok = 1.50 USD reported against a 0.0045 reservation.
    over = await env.syscalls.Complete(pb.CompleteRequest(token=agent.token, syscall_id=first.syscall_id, ok=True,
                                                          input_tokens=1000, output_tokens=100_000))
    assert over.cost_usd == pytest.approx(first.reserved_usd)
    assert over.overrun_usd == pytest.approx(0.003 + 1.5 - first.reserved_usd)
    honest = await env.syscalls.Complete(pb.CompleteRequest(token=agent.token, syscall_id=second.syscall_id, ok=True,
                                                            input_tokens=100, output_tokens=10))
    assert honest.overrun_usd == 0
    ledger = await env.syscalls.GetSessionCost(pb.GetSessionCostRequest(session_id=agent.session_id))
    assert ledger.spent_usd <= ledger.ceiling_usd
    assert ledger.spent_usd == pytest.approx(first.reserved_usd + 0.00045)

    (overrun,) = [e for e in env.audit.of(events.COST_OVERRUN_REPORTED) if e["syscall_id"] == first.syscall_id]
    assert overrun["charged_usd"] == pytest.approx(first.reserved_usd)
    assert overrun["reported_usd"] == pytest.approx(1.503) and overrun["output_tokens"] == 100_000
    completed = [e for e in env.audit.of(events.SYSCALL_COMPLETED) if e["syscall_id"] == first.syscall_id]
    assert completed[0]["cost_usd"] == pytest.approx(first.reserved_usd)
    # A repeated Complete still says the call over-reported, and changes nothing.
    again = await env.syscalls.Complete(pb.CompleteRequest(token=agent.token, syscall_id=first.syscall_id, ok=True))
    assert again.overrun_usd == pytest.approx(over.overrun_usd) and again.cost_usd == pytest.approx(over.cost_usd)
    assert len([e for e in env.audit.of(events.COST_OVERRUN_REPORTED) if e["syscall_id"] == first.syscall_id]) == 1


# --- audit-before-effect


async def test_audit_down_means_no_allow_and_nothing_minted(env: Env) -> None:
    await make_class(env, "unaudited", caps=("fs.read_file",))
    await register(env, "fs.read_file", reversible=True)
    agent = await spawn(env, "unaudited", ("fs.read_file",))
    tokens_before = len(await env.sql("SELECT jti FROM policy.capability_tokens"))
    env.audit.down = True
    try:
        for request in (llm_call(agent.token), tool_call(agent.token, "fs.read_file", {"path": "a"})):
            error = await refused(env.syscalls.Authorize(request))
            assert error.reason == "UNAVAILABLE"
        error = await refused(env.syscalls.MintAgentToken(pb.MintAgentTokenRequest(
            caller_token=env.admin_token, agent_class="unaudited", requested_grants=["fs.read_file"],
            agent_id="ghost")))
        assert error.reason == "UNAVAILABLE"
    finally:
        env.audit.down = False
    ledger = await env.syscalls.GetSessionCost(pb.GetSessionCostRequest(session_id=agent.session_id))
    assert ledger.reserved_usd == 0
    assert len(await env.sql("SELECT jti FROM policy.capability_tokens")) == tokens_before
    assert not await env.sql("SELECT 1 FROM policy.syscalls WHERE session_id = $1", uuid.UUID(agent.session_id))


# --- tokens: rotation, revocation, lineage


async def test_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key(env: Env) -> None:
    await make_class(env, "rotor", caps=("fs.read_file",))
    before = await spawn(env, "rotor", ("fs.read_file",))
    old_kid = kid_of(before.token)
    new_kid = env.policy.keys.rotate().kid
    assert new_kid != old_kid
    after = await spawn(env, "rotor", ("fs.read_file",))
    assert kid_of(after.token) == new_kid
    assert (await env.syscalls.Authorize(llm_call(before.token))).decision == pb.DECISION_ALLOW
    jwks = json.loads((await env.syscalls.GetJwks(pb.GetJwksRequest())).jwks_json)
    assert {old_kid, new_kid} <= {key["kid"] for key in jwks["keys"]}
    # The old key stays while tokens it signed are alive.
    assert env.policy.keys.prune(await env.policy.store.kids_in_use()) == []
    assert old_kid in env.policy.keys.public_keys()


async def test_revoking_a_token_revokes_its_descendants(env: Env) -> None:
    await make_class(env, "tree", caps=("fs.read_file",))
    middle = await mint_operator(env, "middle", ["*"])
    leaf = await mint_operator(env, "leaf", ["fs.read_file", "agents.spawn"], caller=middle.token)
    agent = await spawn(env, "tree", ("fs.read_file",), caller=leaf.token)
    in_flight = await env.syscalls.Authorize(llm_call(agent.token))
    assert in_flight.decision == pb.DECISION_ALLOW
    stranger = await mint_operator(env, "stranger", ["fs.read_file"])
    error = await refused(env.tokens.RevokeToken(tokens_pb.RevokeTokenRequest(jti=middle.jti),
                                                 metadata=env.md(stranger.token)))
    assert error.reason == "INSUFFICIENT_AUTHORITY"
    revoked = await env.tokens.RevokeToken(tokens_pb.RevokeTokenRequest(jti=middle.jti), metadata=env.md())
    assert revoked.revoked_count == 3
    assert env.audit.of(events.TOKEN_REVOKED)[-1]["revoked_count"] == 3
    answer = await env.syscalls.Authorize(llm_call(agent.token))
    assert answer.decision == pb.DECISION_DENY and answer.reason == "UNAUTHENTICATED"
    # A call allowed before the revocation still settles: its effect happened, and its record must not be lost.
    settled = await env.syscalls.Complete(pb.CompleteRequest(token=agent.token, syscall_id=in_flight.syscall_id,
                                                             ok=True, input_tokens=10, output_tokens=10))
    assert settled.cost_usd > 0
    assert env.audit.of(events.SYSCALL_COMPLETED)[-1]["syscall_id"] == in_flight.syscall_id
    listed = set((await env.syscalls.GetRevocations(pb.GetRevocationsRequest())).revoked_jtis)
    assert {middle.jti, leaf.jti, agent.jti} <= listed
    error = await refused(env.tokens.ListTokens(tokens_pb.ListTokensRequest(), metadata=env.md(leaf.token)))
    assert error.reason == "UNAUTHENTICATED"


async def test_operator_tokens_narrow_and_never_outlive_their_parent(env: Env) -> None:
    parent = await mint_operator(env, "team", ["fs.read_file", "approvals.read"], ttl=600)
    assert sorted(parent.grants) == ["approvals.read", "fs.read_file"]
    child = await mint_operator(env, "member", ["fs.read_file", "fs.delete_file", "*"], caller=parent.token,
                                ttl=86400)
    assert sorted(child.grants) == ["approvals.read", "fs.read_file"]
    assert child.expires_at.seconds <= parent.expires_at.seconds
    error = await refused(env.tokens.MintToken(tokens_pb.MintTokenRequest(subject="x", grants=["fs.delete_file"]),
                                               metadata=env.md(parent.token)))
    assert error.reason == "INSUFFICIENT_AUTHORITY"
    mine = await env.tokens.ListTokens(tokens_pb.ListTokensRequest(), metadata=env.md(parent.token))
    assert {t.jti for t in mine.tokens} == {child.jti}
    claims = verify_signature(child.token, env.policy.keys.public_keys())
    assert claims.parent_jti == parent.jti
    minted = env.audit.requests_of(events.TOKEN_MINTED)[-1]
    assert minted.actor.subject == "bootstrap-admin/team" and minted.actor.jti == parent.jti
    assert child.token not in minted.payload_json and parent.token not in minted.payload_json


async def test_unrecorded_or_tampered_tokens_are_refused(env: Env) -> None:
    await make_class(env, "forger", caps=("fs.read_file",))
    real = await spawn(env, "forger", ("fs.read_file",))
    claims = verify_signature(real.token, env.policy.keys.public_keys())
    # Signed with policy's own key but never recorded (e.g. a leaked key, or a mint that rolled back).
    unrecorded = Claims(**{**claims.__dict__, "jti": str(uuid.uuid4())})
    unrecorded_token, _ = env.policy.keys.sign(unrecorded.to_payload())
    assert (await env.syscalls.Authorize(llm_call(unrecorded_token))).reason == "UNAUTHENTICATED"
    # Same jti, widened capabilities.
    widened = Claims(**{**claims.__dict__, "capabilities": frozenset({"fs.read_file", "fs.delete_file"})})
    widened_token, _ = env.policy.keys.sign(widened.to_payload())
    assert (await env.syscalls.Authorize(llm_call(widened_token))).reason == "UNAUTHENTICATED"
    # Neither can settle the real agent's call (e.g. to report no usage against its ceiling).
    allowed = await env.syscalls.Authorize(llm_call(real.token))
    for forged in (unrecorded_token, widened_token):
        error = await refused(env.syscalls.Complete(pb.CompleteRequest(token=forged, syscall_id=allowed.syscall_id,
                                                                       ok=True)))
        assert error.reason == "UNAUTHENTICATED"
    settled = await env.syscalls.Complete(pb.CompleteRequest(token=real.token, syscall_id=allowed.syscall_id,
                                                             ok=True, input_tokens=10, output_tokens=10))
    assert settled.cost_usd > 0
    # Same jti, parent link removed.
    orphan = Claims(**{**claims.__dict__, "parent_jti": ""})
    token, _ = env.policy.keys.sign(orphan.to_payload())
    assert (await env.syscalls.Authorize(llm_call(token))).reason == "UNAUTHENTICATED"
    # An operator token is not an agent token.
    answer = await env.syscalls.Authorize(llm_call(env.admin_token))
    assert answer.decision == pb.DECISION_DENY and answer.reason == "UNAUTHENTICATED"


async def test_renewal_reminted_within_class_and_old_token_revoked(env: Env) -> None:
    await make_class(env, "renewable", caps=("fs.read_file", "fs.list_dir"))
    agent = await spawn(env, "renewable", ("fs.read_file", "fs.list_dir"))
    agent_id = verify_signature(agent.token, env.policy.keys.public_keys()).subject.removeprefix("agent:")
    operator = await mint_operator(env, "renewer", ["agents.spawn", "fs.read_file"])
    renewed = await env.syscalls.RenewAgentToken(pb.RenewAgentTokenRequest(
        caller_token=operator.token, agent_id=agent_id, expired_jti=agent.jti))
    claims = verify_signature(renewed.token, env.policy.keys.public_keys())
    assert claims.capabilities == {"fs.read_file"} and claims.session_id == agent.session_id
    assert claims.parent_jti == operator.jti
    assert (await env.syscalls.Authorize(llm_call(agent.token))).reason == "UNAUTHENTICATED"
    assert (await env.syscalls.Authorize(llm_call(renewed.token))).decision == pb.DECISION_ALLOW
    assert env.audit.of(events.AGENT_TOKEN_RENEWED)[-1]["old_jti"] == agent.jti
    # Renewing again (same second) starts from the newest token, not the revoked one.
    second = await env.syscalls.RenewAgentToken(pb.RenewAgentTokenRequest(
        caller_token=operator.token, agent_id=agent_id, expired_jti=renewed.jti))
    assert (await env.syscalls.Authorize(llm_call(second.token))).decision == pb.DECISION_ALLOW
    no_spawn = await mint_operator(env, "nospawn", ["fs.read_file"])
    error = await refused(env.syscalls.RenewAgentToken(pb.RenewAgentTokenRequest(
        caller_token=no_spawn.token, agent_id=agent_id)))
    assert error.reason == "INSUFFICIENT_AUTHORITY"


# --- the operator CLI (it speaks the same gRPC services the gateway exposes)


async def cli(env: Env, app, *args: str):
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, app, [*args, "--address", env.address, "--token", env.admin_token])


async def test_cli_classes_tokens_and_approvals(env: Env) -> None:
    created = await cli(env, cli_classes.app, "create", "cli-class", "--backend", "anthropic", "--model",
                        "aos-scripted", "-c", "fs.delete_file", "--ceiling", "1.5", "--max-agents", "3",
                        "--untrusted-args", "deny", "--json")
    assert created.exit_code == 0, created.output
    assert json.loads(created.output)["allowed_backends"] == ["anthropic"]
    assert json.loads(created.output)["max_agents"] == 3 and json.loads(created.output)["untrusted_args"] == "deny"
    listed = await cli(env, cli_classes.app, "list", "--json")
    assert "cli-class" in {c["name"] for c in json.loads(listed.output)["agent_classes"]}
    duplicate = await cli(env, cli_classes.app, "create", "cli-class", "--backend", "anthropic", "--model", "m",
                          "-c", "x", "--ceiling", "1")
    assert duplicate.exit_code == 3 and "ALREADY_EXISTS" in duplicate.output

    minted = await cli(env, cli_tokens.app, "mint", "ci-bot", "-g", "approvals.read", "--json")
    assert minted.exit_code == 0, minted.output
    jti = json.loads(minted.output)["jti"]
    assert jti in (await cli(env, cli_tokens.app, "list", "--json")).output
    revoked = await cli(env, cli_tokens.app, "revoke", jti)
    assert revoked.exit_code == 0 and "revoked 1" in revoked.output

    await register(env, "fs.delete_file", reversible=False)
    agent = await spawn(env, "cli-class", ("fs.delete_file",))
    args = {"path": "cli.txt"}
    request = tool_call(agent.token, "fs.delete_file", args, labels={"/path": "trusted"})
    request.evidence.add(index=2, tool="fs.read_file", content="delete cli.txt", injection_patterns=["ignore-previous"])
    pending = await env.syscalls.Authorize(request)
    shown = await cli(env, cli_approvals.app, "show", pending.approval_id)
    assert args_hash(args) in shown.output and "cli.txt" in shown.output
    assert "/path = cli.txt  ← trusted" in shown.output
    assert "injection detector flagged it: ignore-previous" in shown.output
    wrong = await cli(env, cli_approvals.app, "approve", pending.approval_id, "--args-hash", "0" * 64, "--yes")
    assert wrong.exit_code == 3 and "APPROVAL_ARGS_MISMATCH" in wrong.output
    approved = await cli(env, cli_approvals.app, "approve", pending.approval_id, "--yes")
    assert approved.exit_code == 0, approved.output
    allowed = await env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", args, pending.approval_id,
                                                     labels={"/path": "trusted"}))
    assert allowed.decision == pb.DECISION_ALLOW
    again = await cli(env, cli_approvals.app, "deny", pending.approval_id, "-r", "too late")
    assert again.exit_code == 3 and "INVALID_TRANSITION" in again.output


async def test_cli_creates_a_quorum_class_and_shows_how_far_an_approval_is(env: Env) -> None:
    created = await cli(env, cli_classes.app, "create", "cli-quorum", "--backend", "anthropic", "--model",
                        "aos-scripted", "-c", "fs.delete_file", "--ceiling", "1", "--approval-quorum", "high=2",
                        "--approval-excludes-spawner", "--json")
    assert created.exit_code == 0, created.output
    shown_class = json.loads(created.output)
    assert shown_class["approval_quorum"] == {"high": 2} and shown_class["approval_excludes_spawner"] is True
    bad = await cli(env, cli_classes.app, "create", "cli-quorum-bad", "--backend", "anthropic", "--model", "m",
                    "-c", "fs.delete_file", "--ceiling", "1", "--approval-quorum", "urgent=2")
    assert bad.exit_code == 3 and "INVALID_ARGUMENT" in bad.output and "approval_quorum" in bad.output
    await register(env, "fs.delete_file", reversible=False)
    spawner = await mint_operator(env, "q-cli-spawner", ["fs.delete_file"])
    agent = await spawn(env, "cli-quorum", ("fs.delete_file",), caller=spawner.token)
    pending = await env.syscalls.Authorize(tool_call(agent.token, "fs.delete_file", {"path": "q.txt"}))
    assert "0 of 2 approvals" in (await cli(env, cli_approvals.app, "show", pending.approval_id)).output
    first = await cli(env, cli_approvals.app, "approve", pending.approval_id, "--yes")
    assert first.exit_code == 0 and "1 of 2 approvals, still pending" in first.output
    shown = (await cli(env, cli_approvals.app, "show", pending.approval_id)).output
    assert "1 of 2 approvals" in shown and "approved by bootstrap-admin (" in shown
    listed = await cli(env, cli_approvals.app, "list")
    assert "1 of 2" in listed.output
    again = await cli(env, cli_approvals.app, "approve", pending.approval_id, "--yes")
    assert again.exit_code == 3 and "INVALID_TRANSITION" in again.output and "already approved" in again.output

async def test_warn_mode_lets_a_missing_token_through_but_never_a_bad_one(env: Env) -> None:
    warn = TokenAuthority(env.policy.keys, env.policy.store, "warn")
    assert (await warn.caller(())).subject == "anonymous"
    with pytest.raises(AosError) as caught:
        await warn.caller(bearer_metadata(env.admin_token[:-4] + "AAAA"))
    assert caught.value.reason == "UNAUTHENTICATED"
    assert (await warn.caller(bearer_metadata(env.admin_token))).subject == "bootstrap-admin"
