"""The generated OpenAPI document is valid and describes exactly what the gateway routes."""

from openapi_spec_validator import validate

from gateway.http_rules import RouteTable, public_services
from gateway.openapi import OPENAPI_PATH, build_openapi


def test_document_validates():
    validate(build_openapi(public_services()))


def test_every_route_is_documented_with_its_parameters():
    doc = build_openapi(public_services())
    for rule in RouteTable.from_services(public_services()).rules:
        path = rule.template.text
        operation = doc["paths"][path][rule.http_method.lower()]
        path_params = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
        assert path_params == set(rule.bound_fields)
        assert "200" in operation["responses"]


def test_security_open_only_for_health_and_the_document():
    doc = build_openapi(public_services())
    assert doc["security"] == [{"bearerAuth": []}]
    open_ops = [
        (path, method)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if op.get("security") == []
    ]
    assert sorted(open_ops) == [("/api/v1/health", "get"), (OPENAPI_PATH, "get")]


def test_bodies_and_schemas_come_from_the_messages():
    doc = build_openapi(public_services())
    spawn = doc["paths"]["/api/v1/agents"]["post"]
    body = spawn["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"agent_class", "task", "grants", "session_id"}
    assert body["additionalProperties"] is False
    cancel = doc["paths"]["/api/v1/agents/{agent_id}:cancel"]["post"]
    assert "agent_id" not in cancel["requestBody"]["content"]["application/json"]["schema"]["properties"]
    agent = doc["components"]["schemas"]["aos.v1.Agent"]
    assert agent["properties"]["grants"] == {"type": "array", "items": {"type": "string"}}
    assert agent["properties"]["created_at"] == {"type": "string", "format": "date-time"}
    listing = doc["paths"]["/api/v1/approvals"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"state", "session_id", "limit"}
