"""An OpenAPI 3.0 document generated from the same annotations and descriptors the gateway routes by.

Because routing and documentation read one source, the document cannot
describe a path the gateway does not serve, or miss one it does. Schemas
follow protobuf's JSON mapping (int64 as string, Timestamp as RFC 3339, ...).
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor, ServiceDescriptor

from aos_common.errors import REASON_CODES
from gateway.auth import OPEN_METHODS
from gateway.http_rules import HttpRule, rules_of

OPENAPI_PATH = "/api/v1/openapi.json"

_SCALARS: dict[int, dict[str, Any]] = {
    FieldDescriptor.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0},
    FieldDescriptor.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0},
    # 64-bit integers travel as strings in protobuf JSON (they exceed JSON's exact range).
    FieldDescriptor.TYPE_INT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_SINT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FieldDescriptor.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte"},
}

_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?s$"},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Empty": {"type": "object"},
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "status", "message", "details"],
            "properties": {
                "code": {"type": "integer", "description": "The HTTP status."},
                "status": {"type": "string", "description": "The gRPC status code name."},
                "message": {"type": "string"},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["@type", "reason", "domain"],
                        "properties": {
                            "@type": {"type": "string", "enum": ["type.googleapis.com/google.rpc.ErrorInfo"]},
                            "reason": {"type": "string", "enum": sorted(REASON_CODES)},
                            "domain": {"type": "string", "enum": ["aosiq"]},
                            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                        },
                    },
                },
            },
        }
    },
}


def _component_name(descriptor: Descriptor) -> str:
    return descriptor.full_name


class _Schemas:
    """Collects component schemas for the messages the document mentions."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def ref(self, descriptor: Descriptor) -> dict[str, Any]:
        if descriptor.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[descriptor.full_name])
        name = _component_name(descriptor)
        if name not in self.components:
            self.components[name] = {}  # placeholder first: messages may refer to themselves
            self.components[name] = self.object_schema(descriptor, exclude=frozenset())
        return {"$ref": f"#/components/schemas/{name}"}

    def object_schema(self, descriptor: Descriptor, exclude: frozenset[str], strict: bool = False) -> dict[str, Any]:
        properties = {f.name: self.field(f) for f in descriptor.fields if f.name not in exclude}
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if strict:
            # The gateway refuses unknown fields; say so, so clients and fuzzers know.
            schema["additionalProperties"] = False
        return schema

    def field(self, field: FieldDescriptor) -> dict[str, Any]:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.single(value_field)}
        single = self.single(field)
        if field.is_repeated:
            return {"type": "array", "items": single}
        return single

    def single(self, field: FieldDescriptor) -> dict[str, Any]:
        if field.message_type is not None:  # TYPE_MESSAGE and TYPE_GROUP
            return self.ref(field.message_type)
        if field.enum_type is not None:  # TYPE_ENUM
            return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
        return dict(_SCALARS[field.type])


def _openapi_path(rule: HttpRule) -> str:
    """`{agent_id=*}`-style variables written as plain `{agent_id}`, as OpenAPI expects."""
    template = rule.template
    parts = list(template.segments)
    for variable in reversed(template.variables):
        end = len(parts) if variable.end is None else variable.end
        parts[variable.start : end] = [f"{{{variable.field_path}}}"]
    path = "/" + "/".join(parts)
    return f"{path}:{template.verb}" if template.verb else path


def _query_parameters(rule: HttpRule, schemas: _Schemas) -> list[dict[str, Any]]:
    if rule.body == "*":
        return []
    skip = rule.bound_fields | ({rule.body} if rule.body else set())
    params = []
    for field in rule.method.input_type.fields:
        if field.name in skip or field.type == FieldDescriptor.TYPE_MESSAGE:
            continue
        schema = schemas.field(field)
        param: dict[str, Any] = {"name": field.name, "in": "query", "required": False, "schema": schema}
        if field.is_repeated:
            param.update(style="form", explode=True)
        params.append(param)
    return params


def _operation(rule: HttpRule, schemas: _Schemas) -> dict[str, Any]:
    method = rule.method
    input_type = method.input_type
    parameters = [
        {
            "name": variable,
            "in": "path",
            "required": True,
            "schema": schemas.field(input_type.fields_by_name[variable]) if variable in input_type.fields_by_name
            else {"type": "string"},
        }
        for variable in sorted(rule.bound_fields)
    ]
    parameters += _query_parameters(rule, schemas)
    output = method.output_type
    if rule.response_body:
        response_schema = schemas.field(output.fields_by_name[rule.response_body])
    else:
        response_schema = schemas.ref(output)
    error = {"description": "Refused or failed; the reason is in details[0].reason.",
             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    operation: dict[str, Any] = {
        "operationId": f"{method.containing_service.name}_{method.name}",
        "tags": [method.containing_service.name],
        "summary": f"{method.containing_service.full_name}.{method.name}",
        "parameters": parameters,
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": response_schema}}},
            "400": error,
            "default": error,
        },
    }
    grpc_path = f"/{method.containing_service.full_name}/{method.name}"
    if grpc_path in OPEN_METHODS:
        operation["security"] = []
    else:
        operation["responses"]["401"] = error
    if rule.body:
        if rule.body == "*":
            body_schema = schemas.object_schema(input_type, exclude=rule.bound_fields, strict=True)
        else:
            body_schema = schemas.field(input_type.fields_by_name[rule.body])
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": body_schema}},
        }
    return operation


def build_openapi(services: list[ServiceDescriptor], version: str = "0.1.0") -> dict[str, Any]:
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for service in services:
        for method in service.methods:
            for rule in rules_of(method):
                paths.setdefault(_openapi_path(rule), {})[rule.http_method.lower()] = _operation(rule, schemas)
    paths[OPENAPI_PATH] = {
        "get": {
            "operationId": "OpenApi_Get",
            "tags": ["OpenApi"],
            "summary": "This document.",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3 document",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}},
        }
    }
    components = dict(sorted(schemas.components.items()))
    components["Error"] = ERROR_SCHEMA
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "AOSIQ API",
            "version": version,
            "description": "Generated from the google.api.http annotations of the aos.v1 protos.",
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{"bearerAuth": []}],
    }
