"""Building request messages from HTTP requests, and rendering responses, per annotation."""

import json

import pytest

from aos.v1 import agents_pb2, approvals_pb2
from aos_common.errors import InvalidArgument
from gateway.http_rules import RouteTable, public_services
from gateway.transcoding import MAX_BODY_BYTES, build_request, render_response

TABLE = RouteTable.from_services(public_services())


def request(method, path, body=b"", query=()):
    match, _ = TABLE.find(method, path)
    assert match is not None
    return build_request(match.rule, match.path_params, list(query), body)


def test_body_star_accepts_proto_and_camel_names():
    msg = request("POST", "/api/v1/agents", json.dumps({"agentClass": "c", "task": "t", "grants": ["x"]}).encode())
    assert msg == agents_pb2.SpawnAgentRequest(agent_class="c", task="t", grants=["x"])
    msg = request("POST", "/api/v1/agents", json.dumps({"agent_class": "c", "session_id": "s"}).encode())
    assert msg.agent_class == "c" and msg.session_id == "s"


def test_path_params_merge_into_body_and_conflicts_are_refused():
    msg = request("POST", "/api/v1/approvals/ap-1:approve", b'{"args_hash": "ab"}')
    assert msg == approvals_pb2.ApproveRequest(approval_id="ap-1", args_hash="ab")
    assert request("POST", "/api/v1/approvals/ap-1:approve", b'{"approvalId": "ap-1"}').approval_id == "ap-1"
    with pytest.raises(InvalidArgument, match="differently"):
        request("POST", "/api/v1/approvals/ap-1:approve", b'{"approval_id": "other"}')


def test_empty_body_is_an_empty_object():
    assert request("POST", "/api/v1/agents/a-1:cancel").agent_id == "a-1"


def test_query_parameters_map_onto_fields():
    msg = request("GET", "/api/v1/approvals", query=[("state", "pending"), ("limit", "5"), ("sessionId", "s")])
    assert msg == approvals_pb2.ListApprovalsRequest(state="pending", limit=5, session_id="s")


@pytest.mark.parametrize(
    "query",
    [
        [("nope", "1")],
        [("limit", "many")],
        [("state", "a"), ("state", "b")],
    ],
)
def test_bad_query_parameters_are_invalid_argument(query):
    with pytest.raises(InvalidArgument):
        request("GET", "/api/v1/approvals", query=query)


def test_query_cannot_override_a_path_variable():
    with pytest.raises(InvalidArgument, match="path"):
        request("GET", "/api/v1/agents/a-1", query=[("agent_id", "a-2")])


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"agent_class": 5}',
        b'{"grants": "x"}',
        b'{"unknown_field": 1}',
        b"[1, 2]",
        b'"text"',
        b"\xff\xfe{}",
        b'{"task": "a", "task": "b"}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"task": "' + b"x" * MAX_BODY_BYTES + b'"}',
    ],
    ids=["malformed", "wrong-type", "not-a-list", "unknown", "array", "string", "utf8", "dup", "deep", "huge"],
)
def test_bad_bodies_are_invalid_argument(body):
    with pytest.raises(InvalidArgument):
        request("POST", "/api/v1/agents", body)


def test_response_body_selects_the_field_and_prints_every_field():
    match, _ = TABLE.find("GET", "/api/v1/agents/a-1")
    rendered = render_response(match.rule, agents_pb2.GetAgentResponse(agent=agents_pb2.Agent(agent_id="a-1")))
    assert rendered["agent_id"] == "a-1"
    assert rendered["grants"] == [] and rendered["state"] == "" and rendered["cost_usd"] == 0


def test_whole_response_when_no_response_body():
    match, _ = TABLE.find("GET", "/api/v1/agents")
    rendered = render_response(match.rule, agents_pb2.ListAgentsResponse(agents=[agents_pb2.Agent(agent_id="a")]))
    assert rendered["agents"][0]["agent_id"] == "a"
