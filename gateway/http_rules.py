"""The REST surface, read from the `google.api.http` annotations of the generated descriptors.

Nothing here names an RPC: every public method that carries an annotation
becomes a route, so a new annotated RPC is served (and documented) without a
line of gateway code. Path templates follow google/api/http.proto:
literal segments, `*`, a trailing `**`, variables `{field.path}` or
`{field.path=segments}` and an optional custom verb (`/agents/{agent_id}:cancel`).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from types import ModuleType
from urllib.parse import unquote

from google.api import annotations_pb2
from google.protobuf.descriptor import Descriptor, MethodDescriptor, ServiceDescriptor

import aos.v1

_SINGLE = "*"
_MULTI = "**"


class TemplateError(ValueError):
    """An annotation's path template does not follow the grammar."""


@dataclass(frozen=True)
class Variable:
    field_path: str
    # Index range of the segments it captures; `end` is None when it runs to a trailing `**`.
    start: int
    end: int | None


@dataclass(frozen=True)
class PathTemplate:
    """A parsed `google.api.http` path template."""

    text: str
    segments: tuple[str, ...]
    variables: tuple[Variable, ...]
    verb: str = ""

    @classmethod
    def parse(cls, text: str) -> PathTemplate:
        if not text.startswith("/"):
            raise TemplateError(f"template {text!r} must start with '/'")
        body, verb = text[1:], ""
        # The verb follows the last ':' outside braces.
        depth, verb_at = 0, -1
        for index, char in enumerate(body):
            depth += {"{": 1, "}": -1}.get(char, 0)
            if char == ":" and depth == 0:
                verb_at = index
        if verb_at >= 0:
            body, verb = body[:verb_at], body[verb_at + 1 :]
            if not verb:
                raise TemplateError(f"template {text!r} has an empty verb")
        segments: list[str] = []
        variables: list[Variable] = []
        for part in _split_outside_braces(body):
            if part.startswith("{"):
                if not part.endswith("}"):
                    raise TemplateError(f"template {text!r}: unbalanced braces")
                name, _, sub = part[1:-1].partition("=")
                if not name:
                    raise TemplateError(f"template {text!r}: a variable has no field")
                inner = sub.split("/") if sub else [_SINGLE]
                start = len(segments)
                segments.extend(inner)
                end = None if inner[-1] == _MULTI else len(segments)
                variables.append(Variable(name, start, end))
            elif not part or "{" in part or "}" in part:
                raise TemplateError(f"template {text!r}: bad segment {part!r}")
            else:
                segments.append(part)
        if _MULTI in segments[:-1]:
            raise TemplateError(f"template {text!r}: '**' may only be the last segment")
        return cls(text, tuple(segments), tuple(variables), verb)

    @property
    def literal_count(self) -> int:
        return sum(1 for s in self.segments if s not in (_SINGLE, _MULTI))

    def match(self, segments: list[str], verb: str) -> dict[str, str] | None:
        """Bindings of the variables when the (percent-decoded) segments match, else None."""
        if verb != self.verb:
            return None
        multi = bool(self.segments) and self.segments[-1] == _MULTI
        fixed = self.segments[:-1] if multi else self.segments
        if len(segments) < len(fixed) or (not multi and len(segments) != len(fixed)):
            return None
        for pattern, value in zip(fixed, segments, strict=False):
            if pattern == _SINGLE:
                if not value:
                    return None
            elif pattern != value:
                return None
        return {v.field_path: "/".join(segments[v.start : v.end]) for v in self.variables}


def _split_outside_braces(body: str) -> list[str]:
    parts, current, depth = [], "", 0
    for char in body:
        if char == "/" and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"{": 1, "}": -1}.get(char, 0)
        current += char
    parts.append(current)
    return parts


def split_request_path(raw_path: str) -> tuple[list[str], list[str], str]:
    """The request path as decoded segments, plus the same with a trailing `:verb` split off.

    Splitting happens on the raw path, so an escaped '/' or ':' inside a value
    stays part of that value.
    """
    raw_segments = raw_path.lstrip("/").split("/")
    plain = [unquote(s) for s in raw_segments]
    head, sep, verb = raw_segments[-1].rpartition(":")
    if not sep:
        return plain, plain, ""
    with_verb = [*plain[:-1], unquote(head)]
    return plain, with_verb, unquote(verb)


@dataclass(frozen=True)
class HttpRule:
    """One annotated RPC: the HTTP method and template it answers, and how to map bodies."""

    method: MethodDescriptor
    http_method: str
    template: PathTemplate
    body: str
    response_body: str

    @property
    def service(self) -> str:
        return self.method.containing_service.full_name

    @property
    def grpc_path(self) -> str:
        return f"/{self.service}/{self.method.name}"

    @property
    def bound_fields(self) -> frozenset[str]:
        return frozenset(v.field_path for v in self.template.variables)


_METHODS = ("get", "put", "post", "delete", "patch")


def rules_of(method: MethodDescriptor) -> list[HttpRule]:
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return []
    primary = options.Extensions[annotations_pb2.http]
    found: list[HttpRule] = []
    for rule in (primary, *primary.additional_bindings):
        kind = rule.WhichOneof("pattern")
        if kind in _METHODS:
            verb, path = kind.upper(), getattr(rule, kind)
        elif kind == "custom":
            verb, path = rule.custom.kind.upper(), rule.custom.path
        else:
            continue
        parsed = HttpRule(method, verb, PathTemplate.parse(path), rule.body, rule.response_body)
        _check_fields(parsed)
        found.append(parsed)
    return found


def _check_fields(rule: HttpRule) -> None:
    """A rule naming a field its messages lack is a proto bug: fail at start-up, not per request."""
    where = f"{rule.method.full_name} ({rule.template.text})"
    for field_path in [*rule.bound_fields, *([rule.body] if rule.body not in ("", "*") else [])]:
        descriptor: Descriptor | None = rule.method.input_type
        for part in field_path.split("."):
            field = descriptor.fields_by_name.get(part) if descriptor is not None else None
            if field is None:
                raise TemplateError(f"{where}: {field_path!r} is not a field of {rule.method.input_type.name}")
            descriptor = field.message_type
    if rule.response_body and rule.response_body not in rule.method.output_type.fields_by_name:
        raise TemplateError(f"{where}: response_body {rule.response_body!r} is not a field")


def proto_modules() -> list[ModuleType]:
    """Every generated `*_pb2` module of the aos.v1 package."""
    return [
        importlib.import_module(f"aos.v1.{info.name}")
        for info in pkgutil.iter_modules(aos.v1.__path__)
        if info.name.endswith("_pb2")
    ]


def public_services() -> list[ServiceDescriptor]:
    """Services with at least one annotated method: the contract's outside surface.

    Internal services (policy's syscall boundary, audit's writer, status) carry
    no annotation, which is exactly what keeps them off the gateway.
    """
    services: dict[str, ServiceDescriptor] = {}
    for module in proto_modules():
        for service in module.DESCRIPTOR.services_by_name.values():
            if any(rules_of(m) for m in service.methods):
                services[service.full_name] = service
    return [services[name] for name in sorted(services)]


@dataclass(frozen=True)
class RouteMatch:
    rule: HttpRule
    path_params: dict[str, str]


@dataclass
class RouteTable:
    """Finds the rule for a request; tells 'no such path' apart from 'wrong method'."""

    rules: list[HttpRule] = field(default_factory=list)

    @classmethod
    def from_services(cls, services: list[ServiceDescriptor]) -> RouteTable:
        rules = [r for s in services for m in s.methods for r in rules_of(m)]
        # More literal segments first, so `/agents/{id}` never shadows a literal sibling.
        rules.sort(key=lambda r: (-r.template.literal_count, r.template.text))
        return cls(rules)

    def find(self, http_method: str, raw_path: str) -> tuple[RouteMatch | None, list[str]]:
        """(match, allowed methods): a match, or None plus the methods the path does accept."""
        plain, with_verb, verb = split_request_path(raw_path)
        allowed: list[str] = []
        for rule in self.rules:
            params = rule.template.match(with_verb, verb) if verb else None
            if params is None:
                params = rule.template.match(plain, "")
            if params is None:
                continue
            if rule.http_method == http_method:
                return RouteMatch(rule, params), []
            allowed.append(rule.http_method)
        return None, sorted(set(allowed))
