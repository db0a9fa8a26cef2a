"""JSON ⇄ protobuf for one annotated RPC: request from path, query and body; response to JSON.

Input accepts proto names and lowerCamel names (protobuf's JSON parser does);
anything it cannot map exactly — unknown fields, wrong types, a body that is
not a JSON object, a path value that disagrees with the body — is an
INVALID_ARGUMENT, never a guess.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from aos_common.errors import InvalidArgument
from gateway.http_rules import HttpRule

MAX_BODY_BYTES = 1024 * 1024

# Messages whose JSON form is a single string or number, so a query value can carry them.
_SCALAR_LIKE_MESSAGES = frozenset({
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "google.protobuf.FieldMask",
    "google.protobuf.StringValue",
    "google.protobuf.BytesValue",
    "google.protobuf.Int32Value",
    "google.protobuf.Int64Value",
    "google.protobuf.UInt32Value",
    "google.protobuf.UInt64Value",
    "google.protobuf.FloatValue",
    "google.protobuf.DoubleValue",
    "google.protobuf.BoolValue",
})


def message_class(descriptor: Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidArgument(f"field {key!r} appears twice in the request body")
        result[key] = value
    return result


def decode_json_body(raw: bytes) -> Any:
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidArgument(f"request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgument("request body is not valid UTF-8") from exc
    if not text.strip():
        return None
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidArgument(f"request body is not valid JSON: {exc}") from None


def _field(descriptor: Descriptor, name: str) -> FieldDescriptor | None:
    return descriptor.fields_by_name.get(name) or descriptor.fields_by_camelcase_name.get(name)


def _resolve(descriptor: Descriptor, path: str, what: str) -> list[FieldDescriptor]:
    """The chain of fields a dotted path names (proto or lowerCamel names)."""
    chain: list[FieldDescriptor] = []
    current: Descriptor | None = descriptor
    for part in path.split("."):
        found = _field(current, part) if current is not None else None
        if found is None:
            raise InvalidArgument(f"{what} {path!r} is not a field of {descriptor.name}")
        chain.append(found)
        current = found.message_type
    return chain


def _existing_key(obj: dict[str, Any], field: FieldDescriptor) -> str | None:
    for key in (field.name, field.json_name):
        if key in obj:
            return key
    return None


def _place(target: dict[str, Any], chain: list[FieldDescriptor], value: Any, source: str) -> None:
    """Put `value` at the field chain inside a JSON object, refusing a disagreeing value."""
    for field in chain[:-1]:
        key = _existing_key(target, field) or field.name
        nested = target.setdefault(key, {})
        if not isinstance(nested, dict):
            raise InvalidArgument(f"field {field.name!r} must be an object")
        target = nested
    leaf = chain[-1]
    existing = _existing_key(target, leaf)
    if existing is not None and target[existing] != value:
        raise InvalidArgument(f"field {leaf.name!r} is given by the {source} and, differently, by the body")
    target[existing or leaf.name] = value


def _query_value(field: FieldDescriptor, values: list[str], name: str) -> Any:
    message = field.message_type  # set exactly for TYPE_MESSAGE fields
    if message is not None and message.full_name not in _SCALAR_LIKE_MESSAGES:
        raise InvalidArgument(f"query parameter {name!r} names a message; send it in a body")
    if field.type == FieldDescriptor.TYPE_BOOL:
        converted: list[Any] = []
        for value in values:
            if value.lower() not in ("true", "false", "1", "0"):
                raise InvalidArgument(f"query parameter {name!r} must be true or false")
            converted.append(value.lower() in ("true", "1"))
    else:
        converted = list(values)
    if field.is_repeated:
        return converted
    if len(converted) != 1:
        raise InvalidArgument(f"query parameter {name!r} may appear only once")
    return converted[0]


def build_request(
    rule: HttpRule, path_params: dict[str, str], query: list[tuple[str, str]], body: bytes
) -> Message:
    """The request message the annotated RPC expects, from every part of the HTTP request."""
    descriptor = rule.method.input_type
    payload: dict[str, Any] = {}
    if rule.body:
        decoded = decode_json_body(body)
        if rule.body == "*":
            if decoded is None:
                decoded = {}
            if not isinstance(decoded, dict):
                raise InvalidArgument("request body must be a JSON object")
            payload = decoded
        elif decoded is not None:
            _place(payload, _resolve(descriptor, rule.body, "body field"), decoded, "body")
    for field_path, value in path_params.items():
        _place(payload, _resolve(descriptor, field_path, "path variable"), value, "path")
    if rule.body != "*":
        grouped: dict[str, list[str]] = {}
        for name, value in query:
            grouped.setdefault(name, []).append(value)
        bound = {".".join(f.name for f in _resolve(descriptor, p, "path variable")) for p in path_params}
        for name, values in grouped.items():
            chain = _resolve(descriptor, name, "query parameter")
            if ".".join(f.name for f in chain) in bound:
                raise InvalidArgument(f"query parameter {name!r} is already given by the path")
            _place(payload, chain, _query_value(chain[-1], values, name), "query")
    elif query:
        raise InvalidArgument("this method takes its fields in the body, not in query parameters")
    try:
        return json_format.ParseDict(payload, message_class(descriptor)(), ignore_unknown_fields=False)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise InvalidArgument(f"request does not match {descriptor.name}: {exc}") from None


def render_response(rule: HttpRule, response: Message) -> Any:
    """The JSON the REST caller gets: proto field names, every field present."""
    target: Message = response
    if rule.response_body:
        field = response.DESCRIPTOR.fields_by_name[rule.response_body]
        if field.type != FieldDescriptor.TYPE_MESSAGE or field.is_repeated:
            whole = message_to_json(response)
            return whole.get(rule.response_body)
        target = getattr(response, rule.response_body)
    return message_to_json(target)


def message_to_json(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
