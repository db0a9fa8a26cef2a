"""The dashboard's pages and form handlers.

Each handler finds the operator's session, calls the backends with that
operator's token and renders a template. Decisions are plain HTML form posts
(they work without script); htmx only refreshes the queues and an agent's state.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from aos_common.errors import AosError
from gateway.dashboard.backends import Backends
from gateway.dashboard.security import same_origin
from gateway.dashboard.session import (
    COOKIE_NAME,
    LOGIN_COOKIE_NAME,
    OperatorSession,
    SessionsFull,
    SessionStore,
    token_subject,
)

# Refusals that mean "this token is no good": the session ends and the operator signs in again.
AUTH_REASONS = frozenset({"UNAUTHENTICATED", "TOKEN_EXPIRED"})
TERMINAL_AGENT_STATES = frozenset({"completed", "completed_disputed", "failed", "abandoned_ungrounded", "cancelled"})

# Fixed texts chosen by code, so nothing from the query string is ever echoed onto the page.
LOGIN_MESSAGES = {
    "UNAUTHENTICATED": "The backends did not accept that token. Paste a valid operator token.",
    "TOKEN_EXPIRED": "That operator token has expired. Sign in with a fresh one.",
    "SESSION_EXPIRED": "Your dashboard session ended. Sign in again.",
    "SIGNED_OUT": "Signed out. The dashboard no longer holds your token.",
}
DECISION_MESSAGES = {
    "approved": "Approved: the agent may now run exactly these arguments.",
    "denied": "Denied: the agent will not run this action.",
}

LOGIN_NONCE_SECONDS = 15 * 60


class LoginRequired(Exception):
    """No usable session; `reason` picks the message on the login page."""

    def __init__(self, reason: str | None = None):
        super().__init__(reason or "login required")
        self.reason = reason


class FormRefused(Exception):
    """A post that failed the CSRF or same-origin check."""


def base_path(request: Request) -> str:
    """Where the dashboard is mounted (e.g. `/ui`); links are built from it, not from route names,
    because a mounted app's route names are not visible to the outer router."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def login_url(request: Request, reason: str | None = None) -> str:
    suffix = f"?reason={reason}" if reason in LOGIN_MESSAGES else ""
    return f"{base_path(request)}/login{suffix}"


async def read_form(request: Request) -> dict[str, str]:
    """The url-encoded fields of a form post (first value of each); the app's BodyLimit bounds its size."""
    body = await request.body()
    return dict(reversed(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)))


class Views:
    def __init__(self, backends: Backends, sessions: SessionStore, templates: Jinja2Templates, static_dir: str):
        self.backends = backends
        self.sessions = sessions
        self.templates = templates
        self.static_dir = static_dir

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.index, methods=["GET"]),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/fragments/queues", self.queues, methods=["GET"]),
            Route("/approvals/{approval_id}", self.approval, methods=["GET"]),
            Route("/approvals/{approval_id}/approve", self.approve, methods=["POST"]),
            Route("/approvals/{approval_id}/deny", self.deny, methods=["POST"]),
            Route("/agents/{agent_id}/state", self.agent_state, methods=["GET"]),
            Route("/sessions/{session_id}", self.session_trail, methods=["GET"]),
            Route("/tool-servers", self.tool_servers, methods=["GET"]),
            Route("/tool-servers/{name}", self.tool_server, methods=["GET"]),
            Route("/tool-servers/{name}/approve", self.approve_definitions, methods=["POST"]),
            Mount("/static", app=StaticFiles(directory=self.static_dir)),
        ]

    def exception_handlers(self) -> dict[Any, Any]:
        return {LoginRequired: self._to_login, AosError: self._backend_error, FormRefused: self._form_refused}

    # -- helpers -------------------------------------------------------------------------------

    def _operator(self, request: Request) -> OperatorSession:
        cookie = request.cookies.get(COOKIE_NAME)
        # Background polls are not the operator at work: an unattended screen still times out.
        session = self.sessions.get(cookie, touch=not request.headers.get("hx-request"))
        if session is None:
            raise LoginRequired("SESSION_EXPIRED" if cookie else None)
        return session

    async def _checked_form(self, request: Request, session: OperatorSession) -> dict[str, str]:
        form = await read_form(request)
        if not same_origin(request) or not session.csrf_matches(form.get("csrf")):
            raise FormRefused("missing or wrong CSRF token")
        return form

    def _render(self, request: Request, name: str, context: dict[str, Any], status_code: int = 200,
                session: OperatorSession | None = None) -> Response:
        full = {"base": base_path(request), "csrf": session.csrf if session else "", "signed_in": session is not None,
                **context}
        return self.templates.TemplateResponse(request, name, full, status_code=status_code)

    def _set_cookie(self, request: Request, response: Response, name: str, value: str, max_age: int | None) -> None:
        response.set_cookie(name, value, max_age=max_age, path=base_path(request) or "/", httponly=True,
                            samesite="strict", secure=request.url.scheme == "https")

    # -- error handlers ------------------------------------------------------------------------

    async def _to_login(self, request: Request, exc: Exception) -> Response:
        reason = exc.reason if isinstance(exc, LoginRequired) else None
        target = login_url(request, reason)
        if request.headers.get("hx-request"):
            # htmx follows HX-Redirect with a full page load instead of swapping a fragment.
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    async def _backend_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AosError)
        if exc.reason in AUTH_REASONS:
            self.sessions.drop(request.cookies.get(COOKIE_NAME))
            return await self._to_login(request, LoginRequired(exc.reason))
        session = self.sessions.get(request.cookies.get(COOKIE_NAME))
        return self._render(request, "error.html", {"error": exc}, exc.http_status, session)

    async def _form_refused(self, request: Request, exc: Exception) -> Response:
        session = self.sessions.get(request.cookies.get(COOKIE_NAME))
        error = AosError("The form was refused: it did not come from this dashboard page "
                         "(missing or stale CSRF token). Reload the page and try again.",
                         reason="INSUFFICIENT_AUTHORITY")
        return self._render(request, "error.html", {"error": error}, 403, session)

    # -- sign in / out -------------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        if self.sessions.get(request.cookies.get(COOKIE_NAME)) is not None:
            return RedirectResponse(f"{base_path(request)}/", status_code=303)
        return self._login_page(request, LOGIN_MESSAGES.get(request.query_params.get("reason", "")), 200)

    def _login_page(self, request: Request, message: str | None, status_code: int) -> Response:
        nonce = secrets.token_urlsafe(24)
        response = self._render(request, "login.html", {"message": message, "login_nonce": nonce}, status_code)
        self._set_cookie(request, response, LOGIN_COOKIE_NAME, nonce, LOGIN_NONCE_SECONDS)
        return response

    async def login(self, request: Request) -> Response:
        form = await read_form(request)
        cookie_nonce = request.cookies.get(LOGIN_COOKIE_NAME, "")
        form_nonce = form.get("login_nonce", "")
        if not same_origin(request) or not cookie_nonce or not secrets.compare_digest(cookie_nonce, form_nonce):
            raise FormRefused("login form did not come from this dashboard")
        token = form.get("token", "").strip()
        if not token:
            return self._login_page(request, "Paste an operator token to sign in.", 400)
        try:
            await self.backends.check_token(token)
        except AosError as error:
            if error.reason in AUTH_REASONS:
                return self._login_page(request, LOGIN_MESSAGES[error.reason], 401)
            if error.reason != "INSUFFICIENT_AUTHORITY":
                return self._login_page(request, f"Cannot check the token right now ({error.reason}): "
                                                 f"{error.message}", error.http_status)
            # An authentic token without approval rights may still read audit trails.
        # A fresh id on every sign-in, so an id planted before login is worthless.
        self.sessions.drop(request.cookies.get(COOKIE_NAME))
        try:
            session_id, _ = self.sessions.create(token, token_subject(token))
        except SessionsFull:
            return self._login_page(request, "The dashboard holds as many sessions as it may. Try again once "
                                             "other operators' sessions have ended.", 503)
        response = RedirectResponse(f"{base_path(request)}/", status_code=303)
        self._set_cookie(request, response, COOKIE_NAME, session_id, None)
        response.delete_cookie(LOGIN_COOKIE_NAME, path=base_path(request) or "/")
        return response

    async def logout(self, request: Request) -> Response:
        session = self._operator(request)
        await self._checked_form(request, session)
        self.sessions.drop(request.cookies.get(COOKIE_NAME))
        response = RedirectResponse(login_url(request, "SIGNED_OUT"), status_code=303)
        response.delete_cookie(COOKIE_NAME, path=base_path(request) or "/")
        return response

    # -- approvals -----------------------------------------------------------------------------

    async def _queues(self, session: OperatorSession) -> dict[str, Any]:
        pending, decided = await asyncio.gather(
            self.backends.pending_approvals(session.token), self.backends.recently_decided(session.token)
        )
        return {"pending": pending, "decided": decided}

    async def index(self, request: Request) -> Response:
        session = self._operator(request)
        return self._render(request, "index.html", await self._queues(session), session=session)

    async def queues(self, request: Request) -> Response:
        session = self._operator(request)
        return self._render(request, "_queues.html", await self._queues(session), session=session)

    async def _approval_context(self, session: OperatorSession, approval_id: str) -> dict[str, Any]:
        approval = await self.backends.approval(session.token, approval_id)
        agent, agent_error = None, None
        if approval.agent_id:
            try:
                agent = await self.backends.agent(session.token, approval.agent_id)
            except AosError as error:
                if error.reason in AUTH_REASONS:
                    raise
                # The decision needs the approval, not the agent: show what failed and go on.
                agent_error = error
        return {"approval": approval, "agent": agent, "agent_error": agent_error,
                "terminal_states": TERMINAL_AGENT_STATES}

    async def approval(self, request: Request) -> Response:
        session = self._operator(request)
        context = await self._approval_context(session, request.path_params["approval_id"])
        context["notice"] = DECISION_MESSAGES.get(request.query_params.get("decided", ""))
        return self._render(request, "approval.html", context, session=session)

    async def _decide(self, request: Request, decision: str) -> Response:
        session = self._operator(request)
        form = await self._checked_form(request, session)
        approval_id = request.path_params["approval_id"]
        try:
            if decision == "approved":
                args_hash = form.get("args_hash", "")
                if not args_hash:
                    raise AosError("The approval carried no arguments hash; reload the page.",
                                   reason="INVALID_ARGUMENT")
                await self.backends.approve(session.token, approval_id, args_hash)
            else:
                reason = form.get("reason", "").strip()
                if not reason:
                    raise AosError("A denial needs a reason.", reason="INVALID_ARGUMENT")
                await self.backends.deny(session.token, approval_id, reason)
        except AosError as error:
            if error.reason in AUTH_REASONS:
                raise
            context = await self._approval_context(session, approval_id)
            context["error"] = error
            return self._render(request, "approval.html", context, error.http_status, session)
        target = f"{base_path(request)}/approvals/{quote(approval_id, safe='')}?decided={decision}"
        return RedirectResponse(target, status_code=303)

    async def approve(self, request: Request) -> Response:
        return await self._decide(request, "approved")

    async def deny(self, request: Request) -> Response:
        return await self._decide(request, "denied")

    async def agent_state(self, request: Request) -> Response:
        session = self._operator(request)
        agent = await self.backends.agent(session.token, request.path_params["agent_id"])
        context = {"agent": agent, "agent_error": None, "terminal_states": TERMINAL_AGENT_STATES}
        return self._render(request, "_agent.html", context, session=session)

    # -- audit ---------------------------------------------------------------------------------

    async def session_trail(self, request: Request) -> Response:
        session = self._operator(request)
        session_id = request.path_params["session_id"]
        trail = await self.backends.audit_trail(session.token, session_id)
        verification, verify_error = None, None
        try:
            verification = await self.backends.verify_session(session.token, session_id)
        except AosError as error:
            if error.reason in AUTH_REASONS:
                raise
            verify_error = error
        context = {"session_id": session_id, "trail": trail, "verification": verification,
                   "verify_error": verify_error}
        return self._render(request, "session.html", context, session=session)

    # -- tool servers --------------------------------------------------------------------------

    async def tool_servers(self, request: Request) -> Response:
        session = self._operator(request)
        servers = await self.backends.tool_servers(session.token)
        return self._render(request, "tool_servers.html", {"servers": servers}, session=session)

    async def tool_server(self, request: Request) -> Response:
        session = self._operator(request)
        server = await self.backends.tool_server(session.token, request.path_params["name"])
        context = {"server": server, "notice": "Definitions approved." if request.query_params.get("approved")
                   else None}
        return self._render(request, "tool_server.html", context, session=session)

    async def approve_definitions(self, request: Request) -> Response:
        """Approve the set shown: the form carries the pending hash the page displayed."""
        session = self._operator(request)
        form = await self._checked_form(request, session)
        name = request.path_params["name"]
        try:
            await self.backends.approve_definitions(session.token, name, form.get("definitions_hash", ""))
        except AosError as error:
            if error.reason in AUTH_REASONS:
                raise
            server = await self.backends.tool_server(session.token, name)
            return self._render(request, "tool_server.html", {"server": server, "error": error},
                                error.http_status, session)
        return RedirectResponse(f"{base_path(request)}/tool-servers/{quote(name, safe='')}?approved=1",
                                status_code=303)
