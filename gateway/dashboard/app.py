"""Assembles the operator dashboard as a Starlette app the gateway mounts at `/ui`."""

from __future__ import annotations

from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.templating import Jinja2Templates

from aos_common import provenance
from aos_common.tls import ServiceTls
from gateway.body_limit import BodyLimit
from gateway.dashboard import present
from gateway.dashboard.backends import Backends
from gateway.dashboard.routes import Views
from gateway.dashboard.security import SecurityHeaders
from gateway.dashboard.session import SessionStore

HERE = Path(__file__).resolve().parent
# Every form the dashboard takes (sign-in, approve, deny, sign-out) is far smaller.
MAX_FORM_BYTES = 64 * 1024


def _templates() -> Jinja2Templates:
    # Autoescape on for every template whatever its extension: all backend text
    # (arguments, tool output, audit payloads) is untrusted and must render as text.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update({
        "pretty_json": present.pretty_json_text,
        "pretty_struct": present.pretty_struct,
        "timestamp": present.timestamp_text,
        "age": present.age_text,
        "size": present.size_text,
        "reveal": present.reveal_invisible,
    })
    env.tests["with_invisible"] = present.has_invisible
    env.globals["args_hash_matches"] = present.args_hash_matches
    env.globals["arg_sources"] = provenance.arg_sources
    return Jinja2Templates(env=env)


def create_dashboard(
    *,
    kernel_address: str,
    policy_address: str,
    audit_address: str,
    sessions: SessionStore | None = None,
    identity: ServiceTls | None = None,
) -> Starlette:
    """The dashboard app. Mount it with `Mount("/ui", app=dashboard)`; on shutdown await
    `dashboard.state.backends.close()` (a mounted app's own lifespan never runs)."""
    backends = Backends(
        kernel_address=kernel_address, policy_address=policy_address, audit_address=audit_address, identity=identity
    )
    views = Views(backends, SessionStore() if sessions is None else sessions, _templates(), str(HERE / "static"))
    app = Starlette(
        routes=views.routes(),
        # BodyLimit inside SecurityHeaders, so its 413/408 carry the headers too.
        middleware=[Middleware(SecurityHeaders), Middleware(BodyLimit, max_bytes=MAX_FORM_BYTES)],
        exception_handlers=views.exception_handlers(),
    )
    app.state.backends = backends
    app.state.sessions = views.sessions
    return app
