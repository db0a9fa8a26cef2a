"""`aosiq audit`: verify a session's chain, export it, and check an export offline.

`verify` asks the runtime (through the gateway's gRPC port) to check the
chain against the anchor store. `export` writes the chain as JSON lines with
the exact hashed bytes of every record, followed by the session's signed
anchors as the anchor store holds them; `verify-file` re-checks such a file
with no runtime at all - the same verifier, fed from the file - so an auditor
need not trust the running system to check its own chain. Pin the anchor keys
with `--public-keys` (obtained independently) to make the anchor check binding.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf import json_format
from rich.console import Console
from rich.status import Status

from aos.v1 import audit_pb2 as pb
from aos.v1 import audit_pb2_grpc as pb_grpc
from aos_common.errors import AosError
from aosiq.client import EXIT_FAILED, EXIT_OK, EXIT_USAGE, AddressOpt, JsonFlag, TokenOpt, connect, fail
from audit_svc.verify import ChainEntry, ChainVerifier, VerifyResult, check_anchor_objects

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
                break
            after = page.next_after_seq
        # The anchors as the anchor store holds them, and the keys they claim: an
        # offline verifier should pin those keys from a source of its own (--public-keys).
        anchors = await conn.call(stub.ListAnchors(pb.ListAnchorsRequest(session_id=session), metadata=conn.metadata))
        for document in anchors.anchors:
            out.write(json.dumps({"anchor": document}, ensure_ascii=False) + "\n")
        out.write(json.dumps({"anchor_public_keys": dict(anchors.public_keys)}) + "\n")
    return written


@app.command()
def export(
    session: SessionArg,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")] = None,
    address: AddressOpt = None,
    token: TokenOpt = None,
) -> None:
    """Write a session's chain and its anchors as JSON lines for offline checking."""
    try:
        if output is None:
            count = asyncio.run(_export(session, sys.stdout, address, token))
        else:
            with output.open("w", encoding="utf-8") as out, Console(stderr=True).status("exporting") as status:
                count = asyncio.run(_export(session, out, address, token, status))
    except AosError as error:
        fail(error)
    typer.echo(f"exported {count} entries", err=True)


@dataclass
class Export:
    """What `aosiq audit export` wrote: the entries, the anchor objects and the keys they name."""

    session: str = ""
    entries: list[ChainEntry] = field(default_factory=list)
    anchors: list[bytes] = field(default_factory=list)
    public_keys: dict[str, str] = field(default_factory=dict)


def _entry_of(item: dict[str, Any]) -> ChainEntry:
    return ChainEntry(
        chain_seq=int(item["chain_seq"]),
        event_type=str(item["event_type"]),
        record=str(item["record"]).encode(),
        prev_hash=bytes.fromhex(item["prev_hash"]),
        hash=bytes.fromhex(item["hash"]),
    )


def read_export(lines: Iterator[str]) -> Export:
    """Parse an export; raises ValueError naming the line that is not one."""
    export = Export()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item: dict[str, Any] = json.loads(line)
            if "anchor" in item:
                export.anchors.append(str(item["anchor"]).encode())
            elif "anchor_public_keys" in item:
                export.public_keys.update({str(k): str(v) for k, v in dict(item["anchor_public_keys"]).items()})
            else:
                export.session = export.session or str(item["session_id"])
                if item["session_id"] != export.session:
                    raise ValueError("entries of more than one session")
                export.entries.append(_entry_of(item))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"line {number} is not an exported entry: {exc}") from exc
    return export


def load_public_keys(hex_keys: dict[str, str]) -> dict[str, Ed25519PublicKey]:
    try:
        return {kid: Ed25519PublicKey.from_public_bytes(bytes.fromhex(raw)) for kid, raw in hex_keys.items()}
    except ValueError as exc:
        raise ValueError(f"not an Ed25519 public key: {exc}") from exc


def verify_export(export: Export, now: datetime, public_keys: dict[str, Ed25519PublicKey]) -> VerifyResult:
    """The chain's own checks, and the exported anchors' signatures (with `public_keys`),
    linkage and head hashes, exactly as `aosiq audit verify` checks them online."""
    anchors = check_anchor_objects(export.session, export.anchors, public_keys)
    verifier = ChainVerifier(export.session, anchors, now)
    entries = sorted(export.entries, key=lambda e: (e.chain_seq, e.hash))
    verifier.feed(entries)
    return verifier.result()


@app.command("verify-file")
def verify_file(
    path: Annotated[Path, typer.Argument(help="A file written by `aosiq audit export`.")],
    public_keys: Annotated[Path | None, typer.Option(
        "--public-keys", help="JSON object {key id: hex Ed25519 public key} of the audit service's anchor keys, "
        "obtained independently of the export (default: the keys the export names, which a forger could replace)."
    )] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check an exported chain and its anchors offline. Exit 0 when intact, 1 when tampered."""
    try:
        with path.open(encoding="utf-8") as handle:
            export = read_export(handle)
        key_source = json.loads(public_keys.read_text()) if public_keys else export.public_keys
        keys = load_public_keys(key_source)
    except (OSError, ValueError, AttributeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    if not export.session:
        typer.echo("error: the file holds no entries", err=True)
        raise typer.Exit(EXIT_USAGE)
    if public_keys is None and export.anchors:
        typer.echo("note: anchors checked with the keys named in the export; pin them with --public-keys", err=True)
    result = verify_export(export, datetime.now().astimezone(), keys)
    if as_json:
        typer.echo(json.dumps({
            "ok": result.ok, "length": result.length, "head_hash": result.head_hash.hex(),
            "first_bad_seq": result.first_bad_seq, "anchors_checked": result.anchors_checked,
            "problem": result.problem,
        }))
    else:
        typer.echo(_result_line(result.ok, result.length, result.head_hash.hex(), result.first_bad_seq,
                                result.anchors_checked, result.unanchored_entries, result.unanchored_seconds,
                                result.problem))
    raise typer.Exit(EXIT_OK if result.ok else EXIT_FAILED)
