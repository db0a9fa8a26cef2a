"""How CLI commands reach the runtime: the gateway's gRPC port and a token.

Address: `--address`, else `AOS_GRPC_ADDRESS`, else `grpc_address` in
`$AOS_HOME/runtime.json`, else `127.0.0.1:50051`. Token: `--token`, else
`AOS_TOKEN`, else `$AOS_HOME/admin.token`. With `AOS_GRPC_CA_FILE` set, the
CLI speaks TLS and trusts that CA (a gateway given `AOS_PUBLIC_TLS_*`).
Errors become one line with the contract's reason code and a stable exit code.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import grpc
import typer
from google.protobuf import json_format
from google.protobuf.message import Message
from rich.console import Console
from rich.measure import Measurement
from rich.table import Column, Table

from aos_common.config import aos_home
from aos_common.errors import AosError
from aos_common.rpc import bearer_metadata, to_aos_error

T = TypeVar("T")

# Exit codes scripts can rely on.
EXIT_OK = 0
EXIT_FAILED = 1  # e.g. verification found tampering
EXIT_USAGE = 2
EXIT_REFUSED = 3  # the runtime refused (auth, authority, not found, ...)
EXIT_UNAVAILABLE = 4


def runtime_info(home: Path | None = None) -> dict[str, object]:
    path = (home or aos_home()) / "runtime.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def resolve_address(explicit: str | None = None) -> str:
    if explicit:
        return explicit
    if os.environ.get("AOS_GRPC_ADDRESS"):
        return os.environ["AOS_GRPC_ADDRESS"]
    address = runtime_info().get("grpc_address")
    return str(address) if address else "127.0.0.1:50051"


def resolve_token(explicit: str | None = None) -> str | None:
    if explicit:
        return explicit
    if os.environ.get("AOS_TOKEN"):
        return os.environ["AOS_TOKEN"]
    path = aos_home() / "admin.token"
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


@dataclass
class Connection:
    channel: grpc.aio.Channel
    metadata: tuple[tuple[str, str], ...]

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.channel.close()

    async def call(self, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except grpc.aio.AioRpcError as error:
            raise to_aos_error(error, "gateway") from None


def gateway_channel(address: str) -> grpc.aio.Channel:
    """Plaintext, or TLS against the CA in `AOS_GRPC_CA_FILE`."""
    ca_file = os.environ.get("AOS_GRPC_CA_FILE")
    if not ca_file:
        return grpc.aio.insecure_channel(address)
    try:
        roots = Path(ca_file).expanduser().read_bytes()
    except OSError as exc:
        print(f"error: AOS_GRPC_CA_FILE: cannot read {ca_file}: {exc.strerror}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    return grpc.aio.secure_channel(address, grpc.ssl_channel_credentials(root_certificates=roots))


def connect(address: str | None = None, token: str | None = None) -> Connection:
    channel = gateway_channel(resolve_address(address))
    return Connection(channel=channel, metadata=tuple(bearer_metadata(resolve_token(token))))


def fail(error: AosError) -> NoReturn:
    """Print one clear line (no traceback) and exit with a code scripts can rely on."""
    print(f"error: {error.reason}: {error.message}", file=sys.stderr)
    raise SystemExit(EXIT_UNAVAILABLE if error.reason == "UNAVAILABLE" else EXIT_REFUSED)


def run_call(coro: Coroutine[Any, Any, T]) -> T:
    """Run one CLI call; a refusal becomes one line and a stable exit code."""
    try:
        return asyncio.run(coro)
    except AosError as error:
        fail(error)


def id_column(header: str) -> Column:
    """A table column for ids: never cut or wrapped, so what is shown can be pasted back
    (a narrow terminal scrolls or wraps the line instead)."""
    return Column(header, no_wrap=True, min_width=ID_WIDTH)


ID_WIDTH = 36  # a UUID


def print_table(table: Table, console: Console | None = None) -> None:
    """Print a table at least as wide as its id columns need: on a narrower terminal the
    lines wrap, but no id is cut to an ellipsis."""
    console = console or Console()
    needed = Measurement.get(console, console.options.update_width(10_000), table).minimum
    if needed > console.width:
        console = Console(width=needed, file=console.file, highlight=False)
    console.print(table)


def message_json(message: Message) -> str:
    """A protobuf message as the JSON the REST API would return (proto field names)."""
    return json.dumps(json_format.MessageToDict(message, preserving_proto_field_name=True,
                                                always_print_fields_with_no_presence=True))


# Options every command shares.
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
AddressOpt = Annotated[
    str | None, typer.Option("--address", help="Gateway gRPC address (default AOS_GRPC_ADDRESS or runtime.json).")
]
TokenOpt = Annotated[str | None, typer.Option("--token", help="Bearer token (default AOS_TOKEN or admin.token).")]
