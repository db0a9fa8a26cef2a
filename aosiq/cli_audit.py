"""`aosiq audit`: verify a session's chain, export it, and check an export offline.

`verify` asks the runtime (through the gateway's gRPC port) to check the
chain against the anchor store. `export` writes the chain as JSON lines with
the exact hashed bytes of every record, and `verify-file` re-checks such a
file with no runtime at all - the same verifier, fed from the file - so an
auditor need not trust the running system to check its own chain.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from google.protobuf import json_format
from rich.console import Console
from rich.status import Status

from aos.v1 import audit_pb2 as pb
from aos.v1 import audit_pb2_grpc as pb_grpc
from aos_common.errors import AosError
from aosiq.client import EXIT_FAILED, EXIT_OK, EXIT_USAGE, AddressOpt, JsonFlag, TokenOpt, connect, fail
from audit_svc.verify import AnchorSet, ChainEntry, ChainVerifier, VerifyResult

app = typer.Typer(help="Verify and export per-session audit chains.", no_args_is_help=True, add_completion=False)

PAGE = 10_000
SessionArg = Annotated[str, typer.Argument(help="Session id (UUID).")]


def _result_line(ok: bool, length: int, head: str, first_bad: int, anchors: int, unanchored: int,
                 seconds: float, problem: str) -> str:
    if ok:
        return (f"ok: {length} entries, head {head or '-'}, {anchors} anchors checked, "
                f"{unanchored} entries unanchored ({seconds:.1f}s)")
    return f"TAMPERED: first bad seq {first_bad} of {length}: {problem}"


async def _verify(session: str, trusted_seq: int, trusted_hash: str, address: str | None,
                  token: str | None) -> pb.VerifySessionResponse:
    async with connect(address, token) as conn:
        stub = pb_grpc.AuditServiceStub(conn.channel)
        request = pb.VerifySessionRequest(session_id=session, trusted_seq=trusted_seq, trusted_hash=trusted_hash)
        return await conn.call(stub.VerifySession(request, metadata=conn.metadata))


@app.command()
def verify(
    session: SessionArg,
    as_json: JsonFlag = False,
    trusted_seq: Annotated[int, typer.Option("--trusted-seq", help="Incremental: trust the chain up to here.")] = 0,
    trusted_hash: Annotated[str, typer.Option("--trusted-hash", help="Incremental: your hash at --trusted-seq.")] = "",
    address: AddressOpt = None,
    token: TokenOpt = None,
) -> None:
    """Check a session's chain against its anchors. Exit 0 when intact, 1 when tampered."""
    try:
        with Console(stderr=True).status(f"verifying {session}"):
            result = asyncio.run(_verify(session, trusted_seq, trusted_hash, address, token))
    except AosError as error:
        fail(error)
    if as_json:
        typer.echo(json.dumps(json_format.MessageToDict(
            result, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)))
    else:
        typer.echo(_result_line(result.ok, result.length, result.head_hash, result.first_bad_seq,
                                result.anchors_checked, result.unanchored_entries, result.unanchored_seconds,
                                result.problem))
    raise typer.Exit(EXIT_OK if result.ok else EXIT_FAILED)


def export_line(event: pb.AuditEvent) -> str:
    """One exported entry: everything an offline verifier needs, nothing parsed."""
    return json.dumps(
        {
            "session_id": event.session_id,
            "chain_seq": event.chain_seq,
            "event_type": event.event_type,
            "record": event.record,
            "prev_hash": event.prev_hash,
            "hash": event.hash,
            "created_at": event.created_at.ToJsonString(),
        },
        ensure_ascii=False,
    )


async def _export(session: str, out: TextIO, address: str | None, token: str | None,
                  progress: Status | None = None) -> int:
    written = 0
    async with connect(address, token) as conn:
        stub = pb_grpc.AuditServiceStub(conn.channel)
        after = 0
        while True:
            request = pb.ListAuditEventsRequest(session_id=session, after_seq=after, limit=PAGE)
            page = await conn.call(stub.ListAuditEvents(request, metadata=conn.metadata))
            for event in page.events:
                out.write(export_line(event) + "\n")
            written += len(page.events)
            if progress is not None:
                progress.update(f"exporting {session}: {written} entries")
            if not page.next_after_seq:
                return written
            after = page.next_after_seq


@app.command()
def export(
    session: SessionArg,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")] = None,
    address: AddressOpt = None,
    token: TokenOpt = None,
) -> None:
    """Write a session's chain as JSON lines (record bytes, prev_hash, hash) for offline checking."""
    try:
        if output is None:
            count = asyncio.run(_export(session, sys.stdout, address, token))
        else:
            with output.open("w", encoding="utf-8") as out, Console(stderr=True).status("exporting") as status:
                count = asyncio.run(_export(session, out, address, token, status))
    except AosError as error:
        fail(error)
    typer.echo(f"exported {count} entries", err=True)


def read_export(lines: Iterator[str]) -> tuple[str, list[ChainEntry]]:
    """Parse an export; raises ValueError naming the line that is not one."""
    session = ""
    entries: list[ChainEntry] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item: dict[str, Any] = json.loads(line)
            session = session or str(item["session_id"])
            if item["session_id"] != session:
                raise ValueError("entries of more than one session")
            entries.append(ChainEntry(
                chain_seq=int(item["chain_seq"]),
                event_type=str(item["event_type"]),
                record=str(item["record"]).encode(),
                prev_hash=bytes.fromhex(item["prev_hash"]),
                hash=bytes.fromhex(item["hash"]),
                created_at=datetime.fromisoformat(item["created_at"]),
            ))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"line {number} is not an exported entry: {exc}") from exc
    return session, entries


def verify_export(session: str, entries: list[ChainEntry], now: datetime) -> VerifyResult:
    """The chain-only checks (linkage, hashes, sequence, record session and type); anchors
    live in the anchor store and are checked by `aosiq audit verify`."""
    verifier = ChainVerifier(session, AnchorSet(checkpoints={}), now)
    verifier.feed(sorted(entries, key=lambda e: (e.chain_seq, e.hash)))
    return verifier.result()


@app.command("verify-file")
def verify_file(
    path: Annotated[Path, typer.Argument(help="A file written by `aosiq audit export`.")],
    as_json: JsonFlag = False,
) -> None:
    """Check an exported chain offline. Exit 0 when intact, 1 when tampered."""
    try:
        with path.open(encoding="utf-8") as handle:
            session, entries = read_export(handle)
    except (OSError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    if not session:
        typer.echo("error: the file holds no entries", err=True)
        raise typer.Exit(EXIT_USAGE)
    result = verify_export(session, entries, datetime.now().astimezone())
    if as_json:
        typer.echo(json.dumps({
            "ok": result.ok, "length": result.length, "head_hash": result.head_hash.hex(),
            "first_bad_seq": result.first_bad_seq, "problem": result.problem,
        }))
    else:
        typer.echo(_result_line(result.ok, result.length, result.head_hash.hex(), result.first_bad_seq, 0,
                                result.unanchored_entries, result.unanchored_seconds, result.problem))
    raise typer.Exit(EXIT_OK if result.ok else EXIT_FAILED)
