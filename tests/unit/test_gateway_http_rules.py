"""Path templates and the route table built from the protos' annotations."""

import pytest

from gateway.http_rules import PathTemplate, RouteTable, TemplateError, public_services, split_request_path
from gateway.upstream import SERVICE_OWNERS, check_owners


def match(template: str, path: str):
    parsed = PathTemplate.parse(template)
    plain, with_verb, verb = split_request_path(path)
    if verb:
        found = parsed.match(with_verb, verb)
        if found is not None:
            return found
    return parsed.match(plain, "")


def test_literal_and_variable():
    assert match("/api/v1/agents/{agent_id}", "/api/v1/agents/a-1") == {"agent_id": "a-1"}
    assert match("/api/v1/agents/{agent_id}", "/api/v1/agents") is None
    assert match("/api/v1/agents/{agent_id}", "/api/v1/agents/a/b") is None
    assert match("/api/v1/agents/{agent_id}", "/api/v1/agents/") is None
    assert match("/api/v1/agents", "/api/v1/agentz") is None


def test_custom_verb():
    template = "/api/v1/agents/{agent_id}:cancel"
    assert match(template, "/api/v1/agents/a-1:cancel") == {"agent_id": "a-1"}
    assert match(template, "/api/v1/agents/a-1:renew") is None
    assert match(template, "/api/v1/agents/a-1") is None
    assert PathTemplate.parse(template).verb == "cancel"


def test_percent_decoding_keeps_escaped_separators_in_the_value():
    assert match("/api/v1/agents/{agent_id}", "/api/v1/agents/a%2Fb") == {"agent_id": "a/b"}
    assert match("/api/v1/agents/{agent_id}:cancel", "/api/v1/agents/a%3Ab:cancel") == {"agent_id": "a:b"}


def test_variable_with_sub_template_and_double_wildcard():
    template = "/v1/{name=projects/*/files/**}"
    assert match(template, "/v1/projects/p/files/a/b/c") == {"name": "projects/p/files/a/b/c"}
    assert match(template, "/v1/projects/p/other/a") is None
    assert match("/v1/*/items/{id}", "/v1/x/items/7") == {"id": "7"}


@pytest.mark.parametrize("bad", ["api/v1", "/a/{x", "/a/**/b", "/a/{=*}", "/a:", "/a//b"])
def test_malformed_templates_are_refused(bad):
    with pytest.raises(TemplateError):
        PathTemplate.parse(bad)


def test_route_table_tells_unknown_path_from_wrong_method():
    table = RouteTable.from_services(public_services())
    found, _ = table.find("POST", "/api/v1/agents/a-1:cancel")
    assert found is not None and found.rule.grpc_path == "/aos.v1.AgentService/CancelAgent"
    assert found.path_params == {"agent_id": "a-1"}
    found, allowed = table.find("DELETE", "/api/v1/agents/a-1")
    assert found is None and allowed == ["GET"]
    found, allowed = table.find("GET", "/api/v1/nothing-here")
    assert found is None and allowed == []


def test_every_contract_route_is_served():
    table = RouteTable.from_services(public_services())
    served = {(r.http_method, r.template.text) for r in table.rules}
    for route in [
        ("GET", "/api/v1/health"),
        ("POST", "/api/v1/agent-classes"),
        ("POST", "/api/v1/agents"),
        ("GET", "/api/v1/agents/{agent_id}"),
        ("POST", "/api/v1/agents/{agent_id}:cancel"),
        ("POST", "/api/v1/agents/{agent_id}:renew"),
        ("GET", "/api/v1/approvals"),
        ("GET", "/api/v1/approvals/{approval_id}"),
        ("POST", "/api/v1/approvals/{approval_id}:approve"),
        ("POST", "/api/v1/approvals/{approval_id}:deny"),
        ("GET", "/api/v1/sessions/{session_id}/audit-events"),
        ("POST", "/api/v1/sessions/{session_id}:verify"),
        ("POST", "/api/v1/tokens"),
    ]:
        assert route in served


def test_internal_services_are_not_public_and_every_public_one_has_an_owner():
    names = {s.full_name for s in public_services()}
    assert names.isdisjoint({"aos.v1.PolicyService", "aos.v1.AuditWriterService", "aos.v1.StatusService"})
    assert names == {*SERVICE_OWNERS, "aos.v1.HealthService"}
    check_owners(public_services(), {"aos.v1.HealthService"})
    with pytest.raises(RuntimeError):
        check_owners(public_services(), set())
