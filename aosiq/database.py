"""The database the stack runs on: embedded (pgserver) or `AOS_DATABASE_URL`.

Builds the per-service connection strings: each service gets its own role
(`aos_kernel`, `aos_policy`, `aos_audit`) and, where the server checks
passwords, its own password, kept under `$AOS_HOME/secrets/` (mode 0600).
"""

from __future__ import annotations

import secrets
import warnings
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import asyncpg

if TYPE_CHECKING:
    from pgserver import PostgresServer

SERVICE_ROLES = {"kernel": "aos_kernel", "policy": "aos_policy", "audit": "aos_audit"}


def with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


def with_user(dsn: str, user: str, password: str | None = None) -> str:
    parts = urlsplit(dsn)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    credentials = quote(user, safe="")
    if password:
        credentials += ":" + quote(password, safe="")
    return urlunsplit(parts._replace(netloc=f"{credentials}@{host}"))


def database_name(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/") or "postgres"


def with_query(dsn: str, **params: str) -> str:
    parts = urlsplit(dsn)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


def start_embedded(pgdata: Path) -> tuple[PostgresServer, str]:
    """Start (or reuse) the embedded PostgreSQL in `pgdata`; return (server, admin dsn)."""
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime dir and warns when XDG_RUNTIME_DIR
        # is unset (it falls back to /tmp, which is fine for a lock file).
        warnings.simplefilter("ignore")
        import pgserver

    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    return server, server.get_uri()


def role_password(secrets_dir: Path, role: str) -> str:
    """The role's password, created on first use and kept 0600."""
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = secrets_dir / f"db-{role}.password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


async def set_role_passwords(admin_dsn: str, passwords: dict[str, str]) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        for role, password in passwords.items():
            # Role names are our constants; the password goes in as a literal
            # built by PostgreSQL itself (format %L), never by string pasting.
            statement = await conn.fetchval("SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)",
                                            role, password)
            await conn.execute(statement)
    finally:
        await conn.close()


async def create_database(admin_dsn: str, name: str, template: str | None = None) -> str:
    conn = await asyncpg.connect(admin_dsn)
    try:
        statement = await conn.fetchval(
            "SELECT format('CREATE DATABASE %I' || CASE WHEN $2::text IS NULL THEN '' "
            "ELSE format(' TEMPLATE %I', $2::text) END, $1::text)",
            name,
            template,
        )
        await conn.execute(statement)
    finally:
        await conn.close()
    return with_database(admin_dsn, name)


def service_dsns(admin_dsn: str, passwords: dict[str, str] | None = None) -> dict[str, str]:
    """service name -> DSN connecting as that service's role."""
    passwords = passwords or {}
    return {svc: with_user(admin_dsn, role, passwords.get(role)) for svc, role in SERVICE_ROLES.items()}
