"""`aosiq tools`: register MCP tool servers, review their definitions, approve them.

`approve` computes nothing itself, like `aosiq approvals approve`: it fetches the
server, shows every pending definition beside the approved one, and sends back
the set hash it showed, so an approval only ever covers definitions the
operator saw. Server-supplied text is escaped before it is printed.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aos.v1 import tool_servers_pb2 as pb
from aos.v1 import tool_servers_pb2_grpc as pb_grpc
from aosiq.client import EXIT_REFUSED, AddressOpt, JsonFlag, TokenOpt, connect, message_json, run_call

app = typer.Typer(help="Register MCP tool servers and approve their tool definitions.", no_args_is_help=True,
                  add_completion=False)

NameArg = Annotated[str, typer.Argument(help="The tool server's name (agents see mcp.<name>.<tool>).")]
OVERRIDE_FIELDS = ("reversible", "blast_radius", "idempotent", "open_world")


def parse_pairs(values: list[str], what: str) -> dict[str, str]:
    """KEY=VALUE options as a dict; a malformed one is a usage error naming it."""
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{what} must be KEY=VALUE, got {value.split('=')[0][:40]!r}")
        pairs[key] = rest
    return pairs


def parse_override(value: str) -> tuple[str, pb.ToolOverride]:
    """`TOOL:reversible=false,blast_radius=high,idempotent=true` as one override."""
    tool, sep, fields = value.partition(":")
    if not sep or not tool or not fields:
        raise typer.BadParameter(f"an override is TOOL:field=value,..., got {value[:60]!r}")
    override = pb.ToolOverride()
    for item in fields.split(","):
        key, eq, raw = item.partition("=")
        if not eq or key not in OVERRIDE_FIELDS:
            raise typer.BadParameter(f"override fields are {', '.join(OVERRIDE_FIELDS)}; got {item[:40]!r}")
        if key == "blast_radius":
            override.blast_radius = raw
        elif raw in ("true", "false"):
            setattr(override, key, raw == "true")
        else:
            raise typer.BadParameter(f"{key} must be true or false, got {raw[:20]!r}")
    return tool, override


def _show(server: pb.ToolServer, console: Console) -> None:
    console.print(f"[bold]{escape(server.name)}[/] ({server.transport})  state: [bold]{server.state}[/]"
                  f"  failures: {server.failures}")
    if server.last_error:
        console.print(f"last error: {escape(server.last_error)}")
    console.print(f"approved set:  {server.definitions_hash or '-'}")
    if server.pending_definitions_hash:
        console.print(f"[bold]pending set:   {server.pending_definitions_hash}[/]  "
                      f"(approve with: aosiq tools approve {server.name} --hash {server.pending_definitions_hash})")
    for tool in server.tools:
        flags = (f"reversible={str(tool.reversible).lower()} blast_radius={tool.blast_radius} "
                 f"idempotent={str(tool.idempotent).lower()}")
        console.print(f"\n[bold]mcp.{escape(server.name)}.{escape(tool.name)}[/]  {tool.status}  {flags}")
        console.print(f"  definition {tool.definition_hash}")
        if tool.findings:
            console.print(f"  [bold red]findings: {', '.join(tool.findings)}[/]")
        console.print(f"  description: {escape(tool.description)}", soft_wrap=True)
        console.print(f"  input schema: {escape(tool.input_schema)}", soft_wrap=True)
        console.print(f"  annotations: {escape(tool.annotations)}", soft_wrap=True)
        if tool.approved_definition_hash:
            console.print(f"  [bold]approved before[/] {tool.approved_definition_hash}")
            console.print(f"  approved description: {escape(tool.approved_description)}", soft_wrap=True)
            console.print(f"  approved input schema: {escape(tool.approved_input_schema)}", soft_wrap=True)


async def _get(name: str, address: str | None, token: str | None) -> pb.ToolServer:
    async with connect(address, token) as conn:
        stub = pb_grpc.ToolServerServiceStub(conn.channel)
        got = await conn.call(stub.GetToolServer(pb.GetToolServerRequest(name=name), metadata=conn.metadata))
        return got.tool_server


def _print(server: pb.ToolServer, as_json: bool) -> None:
    if as_json:
        typer.echo(message_json(server))
    else:
        _show(server, Console())


@app.command()
def register(
    name: NameArg,
    command: Annotated[list[str] | None, typer.Argument(help="stdio: the command line, after --.")] = None,
    url: Annotated[str, typer.Option("--http", help="Streamable HTTP: the server's URL.")] = "",
    env: Annotated[list[str] | None, typer.Option("--env", "-e", help="KEY=VALUE for a stdio server "
                                                  "(secret: never shown again).")] = None,
    header: Annotated[list[str] | None, typer.Option("--header", "-H", help="KEY=VALUE for an http server "
                                                     "(secret: never shown again).")] = None,
    override: Annotated[list[str] | None, typer.Option("--override", "-o", help="TOOL:reversible=false,"
                                                       "blast_radius=high,idempotent=true")] = None,
    as_json: JsonFlag = False,
    address: AddressOpt = None,
    token: TokenOpt = None,
) -> None:
    """Register a server: `aosiq tools register git -- python -m mcp_server_git -r /srv/repo`."""
    if bool(url) == bool(command):
        raise typer.BadParameter("give either a command (after --) or --http URL")
    request = pb.RegisterToolServerRequest(
        name=name, transport="http" if url else "stdio", command=command or [], url=url,
        env=parse_pairs(env or [], "--env"), headers=parse_pairs(header or [], "--header"))
    for tool, value in (parse_override(o) for o in override or []):
        request.overrides[tool].CopyFrom(value)

    async def run() -> pb.RegisterToolServerResponse:
        async with connect(address, token) as conn:
            stub = pb_grpc.ToolServerServiceStub(conn.channel)
            return await conn.call(stub.RegisterToolServer(request, metadata=conn.metadata))

    _print(run_call(run()).tool_server, as_json)


@app.command("list")
def list_servers(as_json: JsonFlag = False, address: AddressOpt = None, token: TokenOpt = None) -> None:
    """Every registered server with its state."""

    async def run() -> pb.ListToolServersResponse:
        async with connect(address, token) as conn:
            stub = pb_grpc.ToolServerServiceStub(conn.channel)
            return await conn.call(stub.ListToolServers(pb.ListToolServersRequest(), metadata=conn.metadata))

    listed = run_call(run())
    if as_json:
        typer.echo(message_json(listed))
        return
    table = Table("server", "transport", "state", "tools", "failures", "pending set")
    for s in listed.tool_servers:
        table.add_row(escape(s.name), s.transport, s.state, str(len(s.tools)), str(s.failures),
                      (s.pending_definitions_hash[:16] + "…") if s.pending_definitions_hash else "-")
    Console().print(table)


@app.command()
def show(name: NameArg, as_json: JsonFlag = False, address: AddressOpt = None, token: TokenOpt = None) -> None:
    """One server: each tool's definition, safety, findings, and pending changes beside the approved ones."""
    _print(run_call(_get(name, address, token)), as_json)


@app.command()
def approve(
    name: NameArg,
    expect_hash: Annotated[str, typer.Option("--hash", help="Approve only if the pending set is this one "
                                              "(the hash `show` printed).")] = "",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonFlag = False,
    address: AddressOpt = None,
    token: TokenOpt = None,
) -> None:
    """Approve exactly the definitions shown (bound by the set's hash)."""
    console = Console(stderr=True)
    server = run_call(_get(name, address, token))
    _show(server, console)
    pending = server.pending_definitions_hash
    if not pending:
        console.print("nothing to approve: the server presents the approved set")
        raise typer.Exit(EXIT_REFUSED)
    if expect_hash and expect_hash != pending:
        console.print("error: TOOL_DEFINITION_CHANGED: the pending set is not the one given")
        raise typer.Exit(EXIT_REFUSED)
    if not yes and not typer.confirm("Approve these definitions?", err=True):
        raise typer.Exit(EXIT_REFUSED)

    async def run() -> pb.ApproveToolDefinitionsResponse:
        async with connect(address, token) as conn:
            stub = pb_grpc.ToolServerServiceStub(conn.channel)
            request = pb.ApproveToolDefinitionsRequest(name=name, definitions_hash=pending)
            return await conn.call(stub.ApproveToolDefinitions(request, metadata=conn.metadata))

    approved = run_call(run()).tool_server
    typer.echo(message_json(approved) if as_json else f"approved {name}: {approved.definitions_hash}")


@app.command()
def refresh(name: NameArg, as_json: JsonFlag = False, address: AddressOpt = None, token: TokenOpt = None) -> None:
    """Reconnect and list the server's tools again; a changed definition becomes pending."""

    async def run() -> pb.RefreshToolServerResponse:
        async with connect(address, token) as conn:
            stub = pb_grpc.ToolServerServiceStub(conn.channel)
            return await conn.call(stub.RefreshToolServer(pb.RefreshToolServerRequest(name=name),
                                                          metadata=conn.metadata))

    _print(run_call(run()).tool_server, as_json)


@app.command()
def remove(name: NameArg, address: AddressOpt = None, token: TokenOpt = None) -> None:
    """Remove a server; its tools are gone for every agent."""

    async def run() -> pb.RemoveToolServerResponse:
        async with connect(address, token) as conn:
            stub = pb_grpc.ToolServerServiceStub(conn.channel)
            return await conn.call(stub.RemoveToolServer(pb.RemoveToolServerRequest(name=name),
                                                         metadata=conn.metadata))

    run_call(run())
    typer.echo(json.dumps({"removed": name}))
