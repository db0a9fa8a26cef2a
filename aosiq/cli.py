"""The `aosiq` command: run the stack locally, migrate, and operate it."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from aos_common.logs import setup_logging
from aosiq import cli_agents, cli_approvals, cli_audit, cli_classes, cli_status, cli_tokens, cli_tools

app = typer.Typer(
    name="aosiq",
    help="AOSIQ: run LLM agents under security properties the runtime can prove.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)

app.add_typer(cli_agents.app, name="agents")
app.add_typer(cli_classes.app, name="classes")
app.add_typer(cli_tokens.app, name="token")
app.add_typer(cli_approvals.app, name="approvals")
app.add_typer(cli_audit.app, name="audit")
app.add_typer(cli_tools.app, name="tools")
app.command("status")(cli_status.status)


@app.command()
def up() -> None:
    """Start the whole runtime locally (embedded PostgreSQL unless AOS_DATABASE_URL is set)."""
    from aosiq.launcher import run_up

    setup_logging("aosiq-up", os.environ.get("AOS_LOG_LEVEL", "INFO"))
    raise typer.Exit(run_up())


@app.command()
def migrate(
    database_url: str = typer.Option(None, "--database-url", envvar="AOS_DATABASE_URL",
                                     help="Superuser DSN; defaults to the embedded database under AOS_HOME."),
) -> None:
    """Apply pending database migrations (each once; safe to re-run)."""
    from aos_common.config import aos_home
    from aosiq import database
    from aosiq.migrate import MigrationError
    from aosiq.migrate import migrate as apply

    server = None
    if not database_url:
        server, database_url = database.start_embedded(aos_home() / "pgdata")
    try:
        applied = asyncio.run(apply(database_url))
    except MigrationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        if server is not None:
            server.cleanup()
    if applied:
        for m in applied:
            typer.echo(f"applied {m.version:04d}_{m.name}")
    else:
        typer.echo("database is up to date")


@app.command("tls-issue")
def tls_issue(
    directory: Annotated[Path, typer.Argument(help="Where to write ca.crt and one NAME.crt/NAME.key per service.")],
    host: Annotated[list[str] | None, typer.Option(
        "--host", help="Another name or address the services are reached at (repeatable); "
        "each certificate always names its service, localhost, 127.0.0.1 and ::1.")] = None,
) -> None:
    """Issue the internal CA and a certificate per service, for mutual TLS between them.

    Give each service AOS_TLS_CA_FILE=DIR/ca.crt, AOS_TLS_CERT_FILE=DIR/SERVICE.crt and
    AOS_TLS_KEY_FILE=DIR/SERVICE.key (its own key only). `aosiq up` does this by itself."""
    from aos_common import tls

    tls.issue_local(directory, tls.SERVICES, [*tls.LOCAL_HOSTS, *(host or [])], reuse=False)
    typer.echo(f"issued a CA and certificates for {', '.join(tls.SERVICES)} in {directory}")


@app.command("fake-llm")
def fake_llm(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8089, help="Port to listen on."),
) -> None:
    """Serve the scripted LLM (Anthropic, OpenAI and Ollama wire formats) for tests and demos."""
    from aosiq.fake_llm import serve

    serve(host, port)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
