"""`aosiq approvals`: review and decide irreversible tool calls.

`approve` computes nothing itself: it fetches the approval, shows the tool,
the exact arguments and their hash, and sends back the hash it showed, so an
approval can only ever cover the arguments the operator saw.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aos.v1 import approvals_pb2 as pb
from aos.v1 import approvals_pb2_grpc as pb_grpc
from aosiq.client import EXIT_REFUSED, AddressOpt, JsonFlag, TokenOpt, connect, message_json, run_call

app = typer.Typer(help="Review and decide approvals of irreversible tool calls.", no_args_is_help=True,
                  add_completion=False)

ApprovalArg = Annotated[str, typer.Argument(help="Approval id.")]


async def _get(approval_id: str, address: str | None, token: str | None) -> pb.Approval:
    async with connect(address, token) as conn:
        stub = pb_grpc.ApprovalServiceStub(conn.channel)
        got = await conn.call(stub.GetApproval(pb.GetApprovalRequest(approval_id=approval_id),
                                               metadata=conn.metadata))
        return got.approval


def _show(approval: pb.Approval, console: Console) -> None:
    """Everything the decision binds to, with agent-supplied text escaped (it is untrusted)."""
    console.print(f"[bold]approval[/] {approval.approval_id}  state: [bold]{approval.state}[/]")
    console.print(f"agent {approval.agent_id}  session {approval.session_id}")
    console.print(f"tool [bold]{escape(approval.tool)}[/]  blast radius: [bold]{approval.blast_radius}[/]")
    console.print("arguments (canonical JSON, exactly what the hash covers):")
    console.print(escape(approval.args_canonical), soft_wrap=True)
    console.print(f"args_hash [bold]{approval.args_hash}[/]")
    console.print(f"capability scope: {', '.join(approval.capability_scope) or '-'}")
    if approval.judge.verdict:
        console.print(f"judge [bold]{escape(approval.judge.verdict)}[/] ({escape(approval.judge.model)}): "
                      f"{escape(approval.judge.reason)}", soft_wrap=True)
    for item in approval.evidence:
        console.print(f"evidence [{item.index}] {escape(item.tool)}: {escape(item.content[:500])}", soft_wrap=True)
    if approval.decided_by:
        console.print(f"decided by {approval.decided_by} ({approval.decided_jti}) {escape(approval.reason)}")


@app.command("list")
def list_approvals(
    state: Annotated[str, typer.Option("--state", help="pending|approved|denied|expired|consumed.")] = "pending",
    session: Annotated[str, typer.Option("--session", help="Only this session.")] = "",
    limit: Annotated[int, typer.Option("--limit", help="At most this many.")] = 100,
    as_json: JsonFlag = False,
    address: AddressOpt = None,
    token: TokenOpt = None,
) -> None:
    """List approvals (pending ones by default; --state '' for all)."""

    async def run() -> pb.ListApprovalsResponse:
        async with connect(address, token) as conn:
            stub = pb_grpc.ApprovalServiceStub(conn.channel)
            request = pb.ListApprovalsRequest(state=state, session_id=session, limit=limit)
            return await conn.call(stub.ListApprovals(request, metadata=conn.metadata))

    listed = run_call(run())
    if as_json:
        typer.echo(message_json(listed))
        return
    table = Table("approval", "state", "tool", "blast", "judge", "agent", "args_hash")
    for a in listed.approvals:
        table.add_row(a.approval_id, a.state, escape(a.tool), a.blast_radius, escape(a.judge.verdict) or "-",
                      a.agent_id, a.args_hash[:16] + "…")
    Console().print(table)


@app.command()
def show(approval_id: ApprovalArg, as_json: JsonFlag = False, address: AddressOpt = None,
         token: TokenOpt = None) -> None:
    """Show one approval: tool, full arguments, hash, blast radius, evidence."""
    approval = run_call(_get(approval_id, address, token))
    if as_json:
        typer.echo(message_json(approval))
    else:
        _show(approval, Console())


@app.command()
def approve(
    approval_id: ApprovalArg,
    expect_hash: Annotated[str, typer.Option("--args-hash", help="Approve only if the args hash is this one "
                                              "(for scripts that reviewed the args elsewhere).")] = "",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonFlag = False,
    address: AddressOpt = None,
    token: TokenOpt = None,
) -> None:
    """Approve exactly the arguments shown (bound by their hash)."""
    console = Console(stderr=True)
    approval = run_call(_get(approval_id, address, token))
    _show(approval, console)
    if expect_hash and expect_hash != approval.args_hash:
        console.print("error: APPROVAL_ARGS_MISMATCH: the approval's args_hash is not the one given")
        raise typer.Exit(EXIT_REFUSED)
    if not yes and not typer.confirm("Approve this call with exactly these arguments?", err=True):
        raise typer.Exit(EXIT_REFUSED)

    async def run() -> pb.ApproveResponse:
        async with connect(address, token) as conn:
            stub = pb_grpc.ApprovalServiceStub(conn.channel)
            request = pb.ApproveRequest(approval_id=approval_id, args_hash=approval.args_hash)
            return await conn.call(stub.Approve(request, metadata=conn.metadata))

    approved = run_call(run())
    typer.echo(message_json(approved.approval) if as_json else f"approved {approval_id}")


@app.command()
def deny(
    approval_id: ApprovalArg,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why; the agent is told.")] = "",
    as_json: JsonFlag = False,
    address: AddressOpt = None,
    token: TokenOpt = None,
) -> None:
    """Deny a pending approval; the reason reaches the agent."""

    async def run() -> pb.DenyResponse:
        async with connect(address, token) as conn:
            stub = pb_grpc.ApprovalServiceStub(conn.channel)
            return await conn.call(stub.Deny(pb.DenyRequest(approval_id=approval_id, reason=reason),
                                             metadata=conn.metadata))

    denied = run_call(run())
    typer.echo(message_json(denied.approval) if as_json else f"denied {approval_id}")
