"""`aosiq status`: the runtime's health in a few lines, the anchor counters first
in line of sight (a failing anchor store is the number an operator must watch)."""

from __future__ import annotations

from datetime import UTC

import typer
from rich.console import Console
from rich.markup import escape

from aos.v1 import health_pb2 as pb
from aos.v1 import health_pb2_grpc as pb_grpc
from aosiq.client import EXIT_FAILED, EXIT_OK, AddressOpt, JsonFlag, TokenOpt, connect, message_json, run_call


def status(as_json: JsonFlag = False, address: AddressOpt = None, token: TokenOpt = None) -> None:
    """Print the runtime's health (no permission needed); exit 1 unless every part is ok."""

    async def run() -> pb.GetHealthResponse:
        async with connect(address, token) as conn:
            stub = pb_grpc.HealthServiceStub(conn.channel)
            return await conn.call(stub.GetHealth(pb.GetHealthRequest(), metadata=conn.metadata))

    health = run_call(run())
    if as_json:
        typer.echo(message_json(health))
    else:
        show(health, Console(highlight=False))
    raise typer.Exit(EXIT_OK if health.status == "ok" else EXIT_FAILED)


def show(health: pb.GetHealthResponse, console: Console) -> None:
    console.print(f"runtime       {_state(health.status)}   (auth: {escape(health.auth_mode)})")
    console.print("services      " + " · ".join(f"{escape(s.name)} {_state(s.status)}"
                                               + (f" ({escape(s.detail)})" if s.detail else "")
                                               for s in health.services))
    s = health.scheduler
    console.print(f"scheduler     {_state(s.status)}, {s.workers} workers: {s.runnable} runnable, {s.running} running, "
                  f"{s.waiting_approval} waiting for approval, {s.suspended_token_expired} suspended")
    a = health.audit_anchors
    last = a.last_success_at.ToDatetime(tzinfo=UTC) if a.HasField("last_success_at") else None
    failures = f"[bold red]{a.failures} failed[/]" if a.failures else "0 failed"
    console.print(f"audit anchors {escape(a.store)}: {a.successes} written, {failures}, backlog {a.backlog}, last "
                  + (last.strftime("%Y-%m-%d %H:%M:%S UTC") if last else "never"))
    console.print(f"sandbox       {_state(health.sandbox.status)}"
                  + (f" ({escape(health.sandbox.detail)})" if health.sandbox.detail else ""))
    for server in health.tool_servers:
        console.print(f"tool server   {escape(server.name)}: {_state(server.state)}, {server.failures} failures")


def _state(value: str) -> str:
    shown = escape(value or "unknown")
    return f"[green]{shown}[/]" if value in ("ok", "active") else f"[bold red]{shown}[/]"
