"""The HTTP edge: one Starlette endpoint that serves every annotated RPC.

Per request: bound the body (413 / 408, `gateway.body_limit`), find the rule
(404 / 405), authenticate (401, or a warning in warn mode), build the request
message (400), clamp grants, forward, and render the answer or the backend's error in the contract's shape. Anything
unexpected becomes a 500 body with a reference, never a stack trace.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

import grpc
from opentelemetry import propagate, trace
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, request_response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aos_common.errors import AosError
from aos_common.logs import log_fields
from gateway.auth import OPEN_METHODS, WARNING_HEADER, Authenticator
from gateway.body_limit import BodyLimit, BodyTimeouts
from gateway.errors import BackendError, error_response, from_aos_error, from_backend_error
from gateway.grants import clamp
from gateway.http_rules import RouteMatch, RouteTable
from gateway.openapi import OPENAPI_PATH
from gateway.transcoding import MAX_BODY_BYTES, build_request, message_class, render_response
from gateway.upstream import Upstream

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("gateway.http")

# Where the RPC a request matched is noted for the access log line.
_RPC_SCOPE_KEY = "aos.rpc"


class RestEndpoint:
    def __init__(self, routes: RouteTable, upstream: Upstream, authenticator: Authenticator):
        self._routes = routes
        self._upstream = upstream
        self._auth = authenticator

    async def handle(self, request: Request) -> Response:
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        match, allowed = self._routes.find(request.method, raw_path.decode("latin-1").split("?", 1)[0])
        if match is None:
            if allowed:
                return error_response(
                    grpc.StatusCode.UNIMPLEMENTED,
                    f"{request.method} is not allowed on this path; allowed: {', '.join(allowed)}",
                    http_status=405,
                    headers={"Allow": ", ".join(allowed)},
                )
            return error_response(grpc.StatusCode.NOT_FOUND, f"no API route for {request.url.path[:200]}")
        request.scope[_RPC_SCOPE_KEY] = match.rule.grpc_path
        trace.get_current_span().update_name(f"{request.method} {match.rule.template.text}")
        headers: dict[str, str] = {}
        try:
            return await self._serve(request, match, headers)
        except AosError as error:
            return from_aos_error(error, headers)
        except BackendError as error:
            return from_backend_error(error, headers)

    async def _serve(self, request: Request, match: RouteMatch, headers: dict[str, str]) -> Response:
        rule = match.rule
        authorization = request.headers.get("authorization")
        outcome = None
        if rule.grpc_path not in OPEN_METHODS:
            outcome = await self._auth.authenticate(authorization, rule.grpc_path)
            authorization = outcome.forward
            if outcome.warning:
                headers[WARNING_HEADER] = outcome.warning
        # BodyLimit (outermost but for telemetry) already bounded it in size and time.
        body = await request.body() if rule.body else b""
        message = build_request(rule, match.path_params, list(request.query_params.multi_items()), body)
        if outcome is not None:
            clamp(rule.grpc_path, message, outcome.claims)
        metadata = (("authorization", authorization),) if authorization else ()
        answer = await self._upstream.call(rule.grpc_path, message.SerializeToString(), metadata)
        response = message_class(rule.method.output_type).FromString(answer)
        return JSONResponse(render_response(rule, response), headers=headers)


class RequestTelemetry:
    """A server span per request (continuing the caller's trace context) and one log line.

    The span is current while the endpoint runs, so the gRPC client
    interceptors carry the same trace id to every backend.
    """

    def __init__(self, app: ASGIApp):
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        started = time.perf_counter()
        status = {"code": 500}

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        with _tracer.start_as_current_span(
            f"{scope['method']} {scope['path']}",
            context=propagate.extract(carrier),
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": scope["method"], "url.path": scope["path"]},
        ) as span:
            try:
                await self._app(scope, receive, send_and_note)
            finally:
                span.set_attribute("http.response.status_code", status["code"])
                log.info(
                    "request",
                    extra=log_fields(
                        method=scope["method"],
                        path=scope["path"],
                        status=status["code"],
                        duration_ms=round((time.perf_counter() - started) * 1000, 1),
                        rpc=scope.get(_RPC_SCOPE_KEY, ""),
                    ),
                )


class ContractErrors:
    """Last line: an unexpected exception becomes a 500 in the contract's shape, with a reference."""

    def __init__(self, app: ASGIApp):
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def send_and_note(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, receive, send_and_note)
        except Exception:
            if scope["type"] != "http" or started:
                raise
            ref = uuid.uuid4().hex[:12]
            log.exception("unhandled error", extra=log_fields(path=scope.get("path", ""), ref=ref))
            response = error_response(grpc.StatusCode.INTERNAL, f"internal error (reference {ref})", "INTERNAL")
            await response(scope, receive, send)


def build_app(
    routes: RouteTable,
    upstream: Upstream,
    authenticator: Authenticator,
    openapi_document: dict[str, Any],
    extra_routes: Sequence[BaseRoute] = (),
    body_timeouts: BodyTimeouts | None = None,
) -> Starlette:
    """The ASGI app. `extra_routes` (e.g. the dashboard under /ui/) take precedence over the API."""

    async def openapi(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return error_response(
                grpc.StatusCode.UNIMPLEMENTED,
                f"{request.method} is not allowed on this path; allowed: GET",
                http_status=405,
                headers={"Allow": "GET"},
            )
        return JSONResponse(openapi_document)

    api = RestEndpoint(routes, upstream, authenticator)

    async def api_or_openapi(request: Request) -> Response:
        if request.url.path == OPENAPI_PATH:
            return await openapi(request)
        return await api.handle(request)

    app = Starlette(routes=list(extra_routes))
    # Every request no extra route takes, whatever its path or method, reaches the API's own
    # 404/405 handling: a catch-all Route would miss paths its regex cannot match (a decoded
    # newline) and methods outside its list (TRACE), and Starlette would answer those in plain text.
    app.router.default = request_response(api_or_openapi)
    app.add_middleware(ContractErrors)
    # In front of every route, extra ones included; inside telemetry so its 413/408 are logged.
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES, timeouts=body_timeouts)
    app.add_middleware(RequestTelemetry)
    return app
