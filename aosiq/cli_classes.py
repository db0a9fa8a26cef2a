"""`aosiq classes`: create and list agent classes (the templates agents are spawned from)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aos.v1 import agent_classes_pb2 as pb
from aos.v1 import agent_classes_pb2_grpc as pb_grpc
from aosiq.cli_tools import parse_pairs
from aosiq.client import AddressOpt, JsonFlag, TokenOpt, connect, message_json, run_call

app = typer.Typer(help="Create and list agent classes.", no_args_is_help=True, add_completion=False)



def parse_limits(pairs: list[str]) -> dict[str, float]:
    """`memory_mb=128` pairs as a map of numbers; the service checks names and bounds."""
    limits: dict[str, float] = {}
    for name, value in parse_pairs(pairs, "--sandbox-limit").items():
        try:
            limits[name] = float(value)
        except ValueError:
            raise typer.BadParameter(f"--sandbox-limit {name} must be a number, got {value[:40]!r}") from None
    return limits


def parse_quorum(pairs: list[str]) -> dict[str, int]:
    """`high=2` pairs as approvals needed per blast radius; the service checks radii and bounds."""
    quorum: dict[str, int] = {}
    for radius, value in parse_pairs(pairs, "--approval-quorum").items():
        try:
            quorum[radius] = int(value)
        except ValueError:
            raise typer.BadParameter(f"--approval-quorum {radius} must be a whole number, got {value[:40]!r}") from None
        if abs(quorum[radius]) >= 2**31:  # past what the field carries; the service names the real bounds
            raise typer.BadParameter(f"--approval-quorum {radius} is out of range")
    return quorum


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="Class name, e.g. researcher.")],
    backend: Annotated[str, typer.Option("--backend", help="anthropic | openai | ollama.")],
    model: Annotated[str, typer.Option("--model", help="Model the class's LLM calls use.")],
    capability: Annotated[list[str], typer.Option("--capability", "-c", help="A tool the class may hold; repeat.")],
    ceiling: Annotated[float, typer.Option("--ceiling", help="Cost ceiling of a session, in USD.")],
    allowed_backend: Annotated[list[str] | None, typer.Option(
        "--allowed-backend", help="A backend LLM calls may use; repeat (default: --backend only).")] = None,
    max_agents: Annotated[int, typer.Option(
        "--max-agents", help="Most agents a session may hold (0: AOS_MAX_AGENTS_PER_SESSION).")] = 0,
    max_depth: Annotated[int, typer.Option(
        "--max-depth", help="Deepest spawn below the session's root agent (0: AOS_MAX_SPAWN_DEPTH).")] = 0,
    sandbox_limit: Annotated[list[str] | None, typer.Option(
        "--sandbox-limit", help="NAME=VALUE ceiling on code.run_python, e.g. memory_mb=128; repeat.")] = None,
    untrusted_args: Annotated[str, typer.Option(
        "--untrusted-args", help="A consequential call with a value not traced to the operator: "
                                 "allow | approve (default) | deny.")] = "",
    judge_backend: Annotated[str, typer.Option(
        "--judge-backend", help="Backend of the class's judge (one of its allowed backends).")] = "",
    judge_model: Annotated[str, typer.Option("--judge-model", help="Model of the class's judge.")] = "",
    judge_on: Annotated[list[str] | None, typer.Option(
        "--judge-on", help="approvals | answers | consequential_calls: what the judge sees; repeat.")] = None,
    judge_policy: Annotated[str, typer.Option(
        "--judge-policy", help="advise (recorded and shown) | block (only agree lets a judged call through).")] = "",
    approval_quorum: Annotated[list[str] | None, typer.Option(
        "--approval-quorum", help="RADIUS=N: N distinct operators must approve a call of blast radius "
                                  "low | medium | high, e.g. high=2; repeat (default: 1).")] = None,
    approval_excludes_spawner: Annotated[bool, typer.Option(
        "--approval-excludes-spawner", help="The operator who started an agent's tree may not approve its calls.",
    )] = False,
    approval_ttl: Annotated[int, typer.Option(
        "--approval-ttl", help="Seconds the class's approvals wait before they expire "
                               "(0: AOS_APPROVAL_TTL_SECONDS).")] = 0,
    as_json: JsonFlag = False,
    address: AddressOpt = None,
    token: TokenOpt = None,
) -> None:
    """Create an agent class (needs classes.write)."""
    ceilings = parse_limits(sandbox_limit or [])
    quorum = parse_quorum(approval_quorum or [])

    async def run() -> pb.CreateAgentClassResponse:
        async with connect(address, token) as conn:
            stub = pb_grpc.AgentClassServiceStub(conn.channel)
            request = pb.CreateAgentClassRequest(
                name=name, backend=backend, model=model, allowed_backends=allowed_backend or [backend],
                capabilities=capability, cost_ceiling_usd=ceiling, max_agents=max_agents, max_depth=max_depth,
                sandbox_limits=ceilings, untrusted_args=untrusted_args,
                judge=pb.JudgeConfig(backend=judge_backend, model=judge_model, on=judge_on or [], policy=judge_policy),
                approval_quorum=quorum, approval_excludes_spawner=approval_excludes_spawner,
                approval_ttl_seconds=approval_ttl,
            )
            return await conn.call(stub.CreateAgentClass(request, metadata=conn.metadata))

    created = run_call(run())
    if as_json:
        typer.echo(message_json(created.agent_class))
    else:
        typer.echo(f"created class {created.agent_class.name}")


@app.command("list")
def list_classes(as_json: JsonFlag = False, address: AddressOpt = None, token: TokenOpt = None) -> None:
    """List agent classes."""

    async def run() -> pb.ListAgentClassesResponse:
        async with connect(address, token) as conn:
            stub = pb_grpc.AgentClassServiceStub(conn.channel)
            return await conn.call(stub.ListAgentClasses(pb.ListAgentClassesRequest(), metadata=conn.metadata))

    listed = run_call(run())
    if as_json:
        typer.echo(message_json(listed))
        return
    table = Table("name", "backend", "model", "allowed backends", "capabilities", "ceiling (USD)",
                  "max agents", "max depth", "judge", "approvals")
    for cls in listed.agent_classes:
        judge = (f"{cls.judge.model} on {', '.join(cls.judge.on)} ({cls.judge.policy})" if cls.judge.on else "-")
        quorum = ", ".join(f"{radius}={needed}" for radius, needed in sorted(cls.approval_quorum.items())) or "1"
        table.add_row(cls.name, cls.backend, cls.model, ", ".join(cls.allowed_backends),
                      ", ".join(cls.capabilities), f"{cls.cost_ceiling_usd:g}",
                      str(cls.max_agents or "default"), str(cls.max_depth or "default"), judge,
                      quorum + (", not the spawner" if cls.approval_excludes_spawner else ""))
    Console().print(table)
