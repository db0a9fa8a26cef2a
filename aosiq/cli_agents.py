"""`aosiq agents`: spawn, inspect, cancel and renew agents through the gateway's gRPC port."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from google.protobuf import json_format
from rich.console import Console
from rich.table import Table

from aos.v1 import agents_pb2 as pb
from aos.v1 import agents_pb2_grpc as pb_grpc
from aosiq.client import AddressOpt, Connection, JsonFlag, TokenOpt, connect, id_column, print_table, run_call

app = typer.Typer(help="Spawn, inspect, cancel and renew agents.", no_args_is_help=True, add_completion=False)

T = TypeVar("T")
AgentArg = Annotated[str, typer.Argument(help="Agent id (UUID).")]


def _run(address: str | None, token: str | None,
         action: Callable[[pb_grpc.AgentServiceStub, Connection], Awaitable[T]]) -> T:
    async def go() -> T:
        async with connect(address, token) as conn:
            return await action(pb_grpc.AgentServiceStub(conn.channel), conn)

    return run_call(go())


def _as_dict(agent: pb.Agent) -> dict[str, Any]:
    return json_format.MessageToDict(agent, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


def _show(agent: pb.Agent, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(_as_dict(agent)))
        return
    table = Table(show_header=False, box=None)
    for key, value in (
        ("agent_id", agent.agent_id),
        ("session_id", agent.session_id),
        ("class", agent.agent_class),
        ("state", agent.state),
        ("grants", ", ".join(agent.grants)),
        ("cost_usd", f"{agent.cost_usd:.6f}"),
        ("result", agent.result),
        ("error", f"{agent.error.reason}: {agent.error.message}" if agent.error.reason else ""),
    ):
        if value:
            table.add_row(f"[bold]{key}[/bold]", value)
    Console().print(table)


@app.command()
def spawn(
    agent_class: Annotated[str, typer.Argument(help="Agent class to spawn from.")],
    task: Annotated[str, typer.Argument(help="The task (may contain a plan for the scripted LLM).")],
    grant: Annotated[list[str] | None, typer.Option("--grant", "-g", help="Requested grant; repeat.")] = None,
    session: Annotated[str, typer.Option("--session", help="Join this session instead of a new one.")] = "",
    as_json: JsonFlag = False,
    address: AddressOpt = None,
    token: TokenOpt = None,
) -> None:
    """Spawn an agent. Grants are narrowed to your token and the class template."""
    request = pb.SpawnAgentRequest(agent_class=agent_class, task=task, grants=grant or [], session_id=session)
    reply = _run(address, token, lambda stub, conn: conn.call(stub.SpawnAgent(request, metadata=conn.metadata)))
    _show(reply.agent, as_json)


@app.command()
def get(agent_id: AgentArg, as_json: JsonFlag = False, address: AddressOpt = None, token: TokenOpt = None) -> None:
    """Show one agent."""
    request = pb.GetAgentRequest(agent_id=agent_id)
    reply = _run(address, token, lambda stub, conn: conn.call(stub.GetAgent(request, metadata=conn.metadata)))
    _show(reply.agent, as_json)


@app.command("list")
def list_agents(
    state: Annotated[str, typer.Option("--state", help="Only agents in this state.")] = "",
    session: Annotated[str, typer.Option("--session", help="Only agents of this session.")] = "",
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 100,
    as_json: JsonFlag = False,
    address: AddressOpt = None,
    token: TokenOpt = None,
) -> None:
    """List agents, newest first."""
    request = pb.ListAgentsRequest(state=state, session_id=session, limit=limit)
    reply = _run(address, token, lambda stub, conn: conn.call(stub.ListAgents(request, metadata=conn.metadata)))
    if as_json:
        typer.echo(json.dumps({"agents": [_as_dict(a) for a in reply.agents]}))
        return
    table = Table(id_column("agent_id"), "class", "state", "cost_usd", id_column("session_id"))
    for agent in reply.agents:
        table.add_row(agent.agent_id, agent.agent_class, agent.state, f"{agent.cost_usd:.6f}", agent.session_id)
    print_table(table)


@app.command()
def cancel(agent_id: AgentArg, as_json: JsonFlag = False, address: AddressOpt = None,
           token: TokenOpt = None) -> None:
    """Cancel an agent that has not finished."""
    request = pb.CancelAgentRequest(agent_id=agent_id)
    reply = _run(address, token, lambda stub, conn: conn.call(stub.CancelAgent(request, metadata=conn.metadata)))
    _show(reply.agent, as_json)


@app.command()
def renew(agent_id: AgentArg, as_json: JsonFlag = False, address: AddressOpt = None,
          token: TokenOpt = None) -> None:
    """Re-mint the token of an agent suspended by token expiry, and resume it."""
    request = pb.RenewAgentRequest(agent_id=agent_id)
    reply = _run(address, token, lambda stub, conn: conn.call(stub.RenewAgent(request, metadata=conn.metadata)))
    _show(reply.agent, as_json)
