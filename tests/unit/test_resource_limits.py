"""A sandboxed call runs under the deployment's limits lowered by its class's
ceilings: policy lowers, the kernel believes only a lowering."""

from __future__ import annotations

import pytest

from aos_common.errors import AosError, InvalidArgument
from aos_common.resource_limits import check_limits, lower
from kernel_svc.sandbox import Limits
from kernel_svc.syscalls import allowed_limits
from policy_svc import decisions
from policy_svc.classes import AgentClass
from policy_svc.decisions import Refused
from policy_svc.requests import SyscallRequest

DEFAULTS = Limits().to_json()


def agent_class(ceilings: dict[str, float]) -> AgentClass:
    return AgentClass(name="analyst", backend="ollama", model="llama3", allowed_backends=frozenset({"ollama"}),
                      capabilities=frozenset({"code.run_python"}), cost_ceiling_usd=1.0, sandbox_limits=ceilings)


def request(limits: dict[str, float]) -> SyscallRequest:
    return SyscallRequest(token="t", kind="tool_call", target="code.run_python", limits=limits)


def test_the_deployments_defaults_are_valid_limits() -> None:
    assert check_limits(DEFAULTS, "defaults") == DEFAULTS


def test_policy_lowers_each_limit_to_the_class_ceiling_and_never_raises_one() -> None:
    ceilings = {"memory_mb": 64.0, "wall_s": 3.0, "cpu_s": 600.0}
    allowed = decisions.sandbox_limits(request(DEFAULTS), agent_class(ceilings))
    assert allowed == {**DEFAULTS, "memory_mb": 64, "wall_s": 3}  # cpu_s stays 10, not 600
    assert decisions.sandbox_limits(request(DEFAULTS), agent_class({})) == DEFAULTS


@pytest.mark.parametrize("asked", [{"memory_mb": -1}, {"network": 1}, {"cpu_s": float("nan")}, {"open_files": 2.5}])
def test_policy_refuses_limits_it_does_not_know_or_that_are_out_of_bounds(asked: dict[str, float]) -> None:
    with pytest.raises(Refused) as refused:
        decisions.sandbox_limits(request(asked), agent_class({}))
    assert refused.value.reason == "INVALID_ARGUMENT"


def test_the_kernel_believes_only_a_lowering_and_needs_every_limit_answered() -> None:
    asked = {"memory_mb": 512.0, "wall_s": 15.0}
    assert allowed_limits(asked, {"memory_mb": 64.0, "wall_s": 99.0}) == {"memory_mb": 64.0, "wall_s": 15.0}
    with pytest.raises(AosError, match="wall_s"):
        allowed_limits(asked, {"memory_mb": 64.0})
    assert allowed_limits({}, {}) == {}


def test_lower_and_check() -> None:
    assert lower({"cpu_s": 10}, {"cpu_s": 2, "memory_mb": 1}) == {"cpu_s": 2}
    with pytest.raises(InvalidArgument, match="whole number"):
        check_limits({"processes": 2.5}, "x")
