"""Mutual TLS between the services of a real `aosiq up` stack.

Nothing reaches an internal port without a certificate from the stack's own
CA, and a certificate only opens the RPCs its service may call
(aos_common/tls.py `CALLERS`): the gateway cannot append to the audit chain,
the kernel cannot append in policy's name, only the kernel asks policy for
decisions, and only the gateway calls the public services.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aos.v1 import agents_pb2, agents_pb2_grpc, common_pb2
from aos.v1 import audit_internal_pb2 as audit_pb
from aos.v1 import audit_internal_pb2_grpc as audit_grpc
from aos.v1 import policy_internal_pb2 as policy_pb
from aos.v1 import policy_internal_pb2_grpc as policy_grpc
from aos_common import tls
from aos_common.rpc import reason_of
from tests.stack import RunningStack

INTERNAL = ("kernel", "policy", "audit")


async def health(channel: grpc.aio.Channel) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)  # type: ignore[attr-defined]  # the stub omits what HealthStub.__init__ sets
    return reply.status


async def append(stack: RunningStack, caller: str, in_the_name_of: str) -> audit_pb.AppendEventResponse:
    async with stack.internal_channel(stack.audit_address, caller) as channel:
        return await audit_grpc.AuditWriterServiceStub(channel).AppendEvent(
            audit_pb.AppendEventRequest(
                session_id=str(uuid.uuid4()),
                event_type="SYSCALL_ALLOWED",
                actor=common_pb2.Actor(service=in_the_name_of, subject="test"),
                payload_json="{}",
            ),
            timeout=10,
        )


def address_of(stack: RunningStack, service: str) -> str:
    return str(stack.runtime()[f"{service}_address"])


@pytest.mark.parametrize("service", INTERNAL)
async def test_a_plaintext_client_gets_nothing_from_an_internal_port(stack: RunningStack, service: str) -> None:
    async with grpc.aio.insecure_channel(address_of(stack, service)) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await health(channel)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("service", INTERNAL)
async def test_a_certificate_from_another_ca_is_refused(stack: RunningStack, service: str, tmp_path: Path) -> None:
    tls.issue_local(tmp_path, ["kernel"])  # right name, wrong CA
    forged = tls.load(tmp_path, "kernel")
    own_ca = stack.identity("kernel").ca
    # Trusting the stack's CA for the server, but presenting the other CA's certificate.
    credentials = grpc.ssl_channel_credentials(root_certificates=own_ca, private_key=forged.key,
                                               certificate_chain=forged.cert)
    async with grpc.aio.secure_channel(address_of(stack, service), credentials) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await health(channel)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("service", INTERNAL)
async def test_any_certificate_of_the_stack_may_ask_for_health(stack: RunningStack, service: str) -> None:
    async with stack.internal_channel(address_of(stack, service), tls.LAUNCHER) as channel:
        assert await health(channel) == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("caller", ["gateway", "audit", tls.LAUNCHER])
async def test_only_policy_and_the_kernel_may_append_to_the_chain(stack: RunningStack, caller: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await append(stack, caller, caller)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert reason_of(refused.value)[0] == "INSUFFICIENT_AUTHORITY"


async def test_a_service_appends_only_in_its_own_name(stack: RunningStack) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await append(stack, "kernel", "policy")
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "cannot append in 'policy'" in (refused.value.details() or "")
    appended = await append(stack, "kernel", "kernel")
    assert appended.chain_seq == 1


@pytest.mark.parametrize("caller", ["gateway", "audit"])
async def test_only_the_kernel_asks_policy_for_decisions(stack: RunningStack, caller: str) -> None:
    async with stack.internal_channel(stack.policy_address, caller) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await policy_grpc.PolicyServiceStub(channel).Authorize(
                policy_pb.AuthorizeRequest(token="x", kind=policy_pb.SYSCALL_KIND_TOOL_CALL, target="fs.read_file"),
                timeout=10,
            )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_public_services_answer_only_the_gateway(stack: RunningStack) -> None:
    request = agents_pb2.ListAgentsRequest()
    async with stack.internal_channel(stack.kernel_address, "policy") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await agents_pb2_grpc.AgentServiceStub(channel).ListAgents(request, timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # The gateway's certificate passes the transport; the call then needs a token like any other.
    async with stack.internal_channel(stack.kernel_address, "gateway") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as unauthenticated:
            await agents_pb2_grpc.AgentServiceStub(channel).ListAgents(request, timeout=10)
    assert unauthenticated.value.code() == grpc.StatusCode.UNAUTHENTICATED
