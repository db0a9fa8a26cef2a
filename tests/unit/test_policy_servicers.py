"""Every RPC the policy service registers is implemented, not inherited as UNIMPLEMENTED."""

from __future__ import annotations

import pytest

from aos.v1 import (
    agent_classes_pb2,
    agent_classes_pb2_grpc,
    approvals_pb2,
    approvals_pb2_grpc,
    policy_internal_pb2,
    policy_internal_pb2_grpc,
    status_pb2,
    status_pb2_grpc,
    tokens_pb2,
    tokens_pb2_grpc,
)
from policy_svc import service

CASES = [
    (policy_internal_pb2, "PolicyService", service.PolicyServicer, policy_internal_pb2_grpc.PolicyServiceServicer),
    (tokens_pb2, "TokenService", service.TokenServicer, tokens_pb2_grpc.TokenServiceServicer),
    (agent_classes_pb2, "AgentClassService", service.AgentClassServicer,
     agent_classes_pb2_grpc.AgentClassServiceServicer),
    (approvals_pb2, "ApprovalService", service.ApprovalServicer, approvals_pb2_grpc.ApprovalServiceServicer),
    (status_pb2, "StatusService", service.StatusServicer, status_pb2_grpc.StatusServiceServicer),
]


@pytest.mark.parametrize(("module", "name", "servicer", "base"), CASES, ids=[c[1] for c in CASES])
def test_every_rpc_is_implemented(module, name, servicer, base) -> None:
    for method in module.DESCRIPTOR.services_by_name[name].methods:
        assert getattr(servicer, method.name) is not getattr(base, method.name), f"{name}.{method.name}"
