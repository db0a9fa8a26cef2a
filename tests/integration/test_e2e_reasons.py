"""Refusals carry the contract's reason codes the same way over REST and over the
gateway's gRPC port, through the real services."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import grpc
import httpx
import pytest

from aos.v1 import agents_pb2, agents_pb2_grpc, approvals_pb2, approvals_pb2_grpc
from aos_common.rpc import reason_of
from tests.integration.test_e2e_agents import TERMINAL, create_class, spawn, wait_for
from tests.stack import RunningStack


@pytest.fixture(scope="module")
def client(stack: RunningStack):
    stack.wait_healthy(90)
    with stack.client() as http:
        yield http


def rest_reason(reply: httpx.Response) -> tuple[int, str]:
    return reply.status_code, reply.json()["error"]["details"][0]["reason"]


def grpc_reason(stack: RunningStack, call: str, request: object, token: str | None) -> tuple[grpc.StatusCode, str]:
    async def run() -> tuple[grpc.StatusCode, str]:
        async with grpc.aio.insecure_channel(stack.grpc_address) as channel:
            stub = (agents_pb2_grpc.AgentServiceStub(channel) if call in ("SpawnAgent", "GetAgent", "CancelAgent")
                    else approvals_pb2_grpc.ApprovalServiceStub(channel))
            metadata = (("authorization", f"Bearer {token}"),) if token else ()
            try:
                await getattr(stub, call)(request, metadata=metadata, timeout=20)
            except grpc.aio.AioRpcError as error:
                return error.code(), reason_of(error)[0]
            raise AssertionError(f"{call} was not refused")

    return asyncio.run(run())


def test_insufficient_authority_and_not_found(stack: RunningStack, client: httpx.Client) -> None:
    agent_class = create_class(client, capabilities=("fs.read_file",))
    body: dict[str, Any] = {"agent_class": agent_class, "task": "x", "grants": ["fs.delete_file"]}
    assert rest_reason(client.post("/api/v1/agents", json=body)) == (403, "INSUFFICIENT_AUTHORITY")
    assert grpc_reason(stack, "SpawnAgent", agents_pb2.SpawnAgentRequest(**body), stack.admin_token) == (
        grpc.StatusCode.PERMISSION_DENIED, "INSUFFICIENT_AUTHORITY")
    missing = str(uuid.uuid4())
    assert rest_reason(client.get(f"/api/v1/agents/{missing}")) == (404, "NOT_FOUND")
    assert grpc_reason(stack, "GetAgent", agents_pb2.GetAgentRequest(agent_id=missing), stack.admin_token) == (
        grpc.StatusCode.NOT_FOUND, "NOT_FOUND")


def test_unauthenticated_and_token_expired(stack: RunningStack, client: httpx.Client) -> None:
    request = agents_pb2.GetAgentRequest(agent_id=str(uuid.uuid4()))
    assert grpc_reason(stack, "GetAgent", request, None) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")
    minted = client.post("/api/v1/tokens", json={"subject": "short-lived", "grants": ["fs.read_file"],
                                                 "ttl_seconds": 1})
    assert minted.status_code == 200, minted.text
    short = minted.json()["token"]
    time.sleep(2.5)
    expired = httpx.get(f"{stack.http_url}/api/v1/agents/{uuid.uuid4()}", headers={"Authorization": f"Bearer {short}"})
    assert rest_reason(expired) == (401, "TOKEN_EXPIRED")
    assert grpc_reason(stack, "GetAgent", request, short) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_EXPIRED")


def test_approval_args_mismatch_and_invalid_transition(stack: RunningStack, client: httpx.Client) -> None:
    (stack.workspace / "reasons.txt").write_text("to delete")
    task = 'Delete it.\nplan:\n1. call fs.delete_file {"path": "reasons.txt"}\n2. answer Deleted. [evidence: 1]'
    agent = spawn(client, create_class(client), task, ["fs.delete_file"])
    wait_for(client, agent["agent_id"], {"waiting_approval"})
    pending = client.get("/api/v1/approvals", params={"state": "pending", "session_id": agent["session_id"]})
    approval = pending.json()["approvals"][0]
    wrong = "0" * 64
    assert rest_reason(client.post(f"/api/v1/approvals/{approval['approval_id']}:approve",
                                   json={"args_hash": wrong})) == (409, "APPROVAL_ARGS_MISMATCH")
    assert grpc_reason(stack, "Approve", approvals_pb2.ApproveRequest(approval_id=approval["approval_id"],
                                                                       args_hash=wrong), stack.admin_token) == (
        grpc.StatusCode.ABORTED, "APPROVAL_ARGS_MISMATCH")
    assert (stack.workspace / "reasons.txt").exists()
    approved = client.post(f"/api/v1/approvals/{approval['approval_id']}:approve",
                           json={"args_hash": approval["args_hash"]})
    assert approved.status_code == 200, approved.text
    done = wait_for(client, agent["agent_id"], TERMINAL)
    assert done["state"] == "completed" and not (stack.workspace / "reasons.txt").exists()
    assert rest_reason(client.post(f"/api/v1/agents/{agent['agent_id']}:cancel", json={})) == (
        409, "INVALID_TRANSITION")
    assert grpc_reason(stack, "CancelAgent", agents_pb2.CancelAgentRequest(agent_id=agent["agent_id"]),
                       stack.admin_token) == (grpc.StatusCode.ABORTED, "INVALID_TRANSITION")
    # A decided approval cannot be decided again.
    assert rest_reason(client.post(f"/api/v1/approvals/{approval['approval_id']}:approve",
                                   json={"args_hash": approval["args_hash"]})) == (409, "INVALID_TRANSITION")
