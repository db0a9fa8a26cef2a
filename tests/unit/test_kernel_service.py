"""AgentService input checks and the API view of an agent (which never carries its token)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aos.v1 import agents_pb2 as pb
from aos_common.errors import InvalidArgument
from kernel_svc.config import load
from kernel_svc.process import AgentProcess
from kernel_svc.service import agent_to_pb, validate_spawn

# A fake provider key, assembled so that no literal key prefix sits in the repository.
FAKE_KEY = "sk-" + "ant-secret-key"
TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJlLXNlY3JldA"


def agent(**overrides: object) -> AgentProcess:
    fields: dict[str, object] = dict(
        id="6f1c1c4e-5d7e-4a53-9a1e-0f4c2a0b7a11", session_id="s", parent_id="", agent_class="reader",
        backend="anthropic", model="aos-scripted", state="failed", task="t", grants=("fs.read_file",),
        token=TOKEN, token_jti="jti-1", token_expires_at=datetime.now(UTC), worker_id="w", attempts=2,
        checkpoint={"messages": []}, result="", error_reason="BACKEND_NOT_ALLOWED", error_message="no",
        cost_usd=0.5, created_at=datetime.now(UTC), updated_at=datetime.now(UTC),
    )
    fields.update(overrides)
    return AgentProcess(**fields)  # type: ignore[arg-type]


def test_api_view_never_carries_the_token() -> None:
    message = agent_to_pb(agent())
    assert TOKEN not in message.SerializeToString().decode(errors="replace")
    assert message.token_jti == "jti-1" and message.error.reason == "BACKEND_NOT_ALLOWED"
    assert TOKEN not in repr(agent())


def test_no_error_summary_when_there_is_no_error() -> None:
    assert not agent_to_pb(agent(error_reason="", error_message="")).HasField("error")


@pytest.mark.parametrize(
    ("request_fields", "problem"),
    [
        ({"agent_class": "", "task": "x"}, "agent_class is required"),
        ({"agent_class": "bad class!", "task": "x"}, "not a valid name"),
        ({"agent_class": "reader", "task": "   "}, "task is required"),
        ({"agent_class": "reader", "task": "x" * (64 * 1024 + 1)}, "larger than"),
        ({"agent_class": "reader", "task": "x", "grants": ["fs.read_file", "bad grant"]}, "not a valid capability"),
        ({"agent_class": "reader", "task": "x", "grants": ["g"] * 65}, "at most"),
        ({"agent_class": "reader", "task": "x", "session_id": "s" * 200}, "too long"),
    ],
)
def test_spawn_validation(request_fields: dict[str, object], problem: str) -> None:
    with pytest.raises(InvalidArgument, match=problem):
        validate_spawn(pb.SpawnAgentRequest(**request_fields))  # type: ignore[arg-type]


def test_valid_spawn_passes() -> None:
    validate_spawn(pb.SpawnAgentRequest(agent_class="reader", task="x" * 1000, grants=["fs.read_file", "*"]))


def test_config_keeps_keys_out_of_repr() -> None:
    config = load({"AOS_KERNEL_DATABASE_URL": "postgresql://aos_kernel:pw@h/db", "AOS_POLICY_ADDRESS": "p:1",
                   "AOS_AUDIT_ADDRESS": "a:1", "ANTHROPIC_API_KEY": FAKE_KEY})
    assert config.providers.for_backend("anthropic") == (None, FAKE_KEY)
    assert FAKE_KEY not in repr(config) and "pw@" not in repr(config)
