"""`aosiq token`: mint, list and revoke caller tokens.

A minted token is never broader nor longer-lived than the token that mints it;
the runtime narrows the request and says what it granted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from google.protobuf import timestamp_pb2
from rich.console import Console
from rich.table import Table

from aos.v1 import tokens_pb2 as pb
from aos.v1 import tokens_pb2_grpc as pb_grpc
from aosiq.client import AddressOpt, JsonFlag, TokenOpt, connect, id_column, message_json, print_table, run_call

app = typer.Typer(help="Mint, list and revoke caller tokens.", no_args_is_help=True, add_completion=False)



def _when(stamp: timestamp_pb2.Timestamp) -> str:
    return datetime.fromtimestamp(stamp.seconds, UTC).strftime("%Y-%m-%d %H:%M:%SZ") if stamp.seconds else "-"


@app.command()
def mint(
    subject: Annotated[str, typer.Argument(help="Who the token is for (recorded on every event it causes).")],
    grant: Annotated[list[str], typer.Option("--grant", "-g", help="A capability to grant; repeat for more.")],
    backend: Annotated[list[str] | None, typer.Option("--backend", help="An allowed LLM backend; "
                                                      "default: the minting token's.")] = None,
    ttl: Annotated[int, typer.Option("--ttl", help="Lifetime in seconds (0: the runtime's default).")] = 0,
    as_json: JsonFlag = False,
    address: AddressOpt = None,
    token: TokenOpt = None,
) -> None:
    """Mint a token for SUBJECT; prints the token (store it like a password)."""

    async def run() -> pb.MintTokenResponse:
        async with connect(address, token) as conn:
            stub = pb_grpc.TokenServiceStub(conn.channel)
            request = pb.MintTokenRequest(subject=subject, grants=grant, backends=backend or [], ttl_seconds=ttl)
            return await conn.call(stub.MintToken(request, metadata=conn.metadata))

    minted = run_call(run())
    if as_json:
        typer.echo(message_json(minted))
        return
    Console(stderr=True).print(f"subject {minted.subject}, jti {minted.jti}, grants {', '.join(minted.grants)}, "
                               f"expires {_when(minted.expires_at)}")
    typer.echo(minted.token)


@app.command("list")
def list_tokens(
    include_revoked: Annotated[bool, typer.Option("--include-revoked", help="Show revoked tokens too.")] = False,
    as_json: JsonFlag = False,
    address: AddressOpt = None,
    token: TokenOpt = None,
) -> None:
    """Unexpired tokens descended from yours (all of them with tokens.admin)."""

    async def run() -> pb.ListTokensResponse:
        async with connect(address, token) as conn:
            stub = pb_grpc.TokenServiceStub(conn.channel)
            return await conn.call(stub.ListTokens(pb.ListTokensRequest(include_revoked=include_revoked),
                                                   metadata=conn.metadata))

    listed = run_call(run())
    if as_json:
        typer.echo(message_json(listed))
        return
    table = Table(id_column("jti"), "subject", "kind", "grants", "expires", "revoked")
    for info in listed.tokens:
        table.add_row(info.jti, info.subject, info.kind, ", ".join(info.grants), _when(info.expires_at),
                      "yes" if info.revoked else "")
    print_table(table)


@app.command()
def revoke(
    jti: Annotated[str, typer.Argument(help="The jti of the token to revoke.")],
    as_json: JsonFlag = False,
    address: AddressOpt = None,
    token: TokenOpt = None,
) -> None:
    """Revoke a token and every token descended from it."""

    async def run() -> pb.RevokeTokenResponse:
        async with connect(address, token) as conn:
            stub = pb_grpc.TokenServiceStub(conn.channel)
            return await conn.call(stub.RevokeToken(pb.RevokeTokenRequest(jti=jti), metadata=conn.metadata))

    revoked = run_call(run())
    if as_json:
        typer.echo(message_json(revoked))
    else:
        typer.echo(f"revoked {revoked.revoked_count} token(s): {jti} and its descendants")
