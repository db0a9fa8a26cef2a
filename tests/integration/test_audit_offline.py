"""Offline verification of an exported session, anchors included.

A real agent's session is exported with `aosiq audit export` (chain + the signed
anchors as the S3 store holds them) and re-checked by `aosiq audit verify-file`
with no runtime. An attacker who rewrites the exported chain with recomputed
hashes is caught by the anchors; one who also re-signs the anchors with a key of
their own and swaps the export's keys is caught once the auditor pins the audit
service's real keys (`--public-keys`), obtained separately from the export.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit_svc.anchor_documents import AnchorSigner, Checkpoint
from audit_svc.chain import entry_hash
from tests.integration.test_e2e_agents import TERMINAL, create_class, spawn, wait_for
from tests.stack import RunningStack

AOSIQ = str(Path(sys.executable).parent / "aosiq")


@pytest.fixture(scope="module")
def client(stack: RunningStack):
    stack.wait_healthy(90)
    with stack.client() as http:
        yield http


def aosiq(stack: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AOS_HOME": str(stack.home)}
    env.pop("AOS_TOKEN", None)
    return subprocess.run([AOSIQ, "audit", *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def exported(stack: RunningStack, client: httpx.Client, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    (stack.workspace / "offline.txt").write_text("evidence")
    task = 'Read.\nplan:\n1. call fs.read_file {"path": "offline.txt"}\n2. answer Read it. [evidence: 1]'
    agent = spawn(client, create_class(client), task, ["fs.read_file"])
    assert wait_for(client, agent["agent_id"], TERMINAL)["state"] == "completed"
    session = agent["session_id"]
    deadline = time.monotonic() + 30
    while client.post(f"/api/v1/sessions/{session}:verify", json={}).json().get("anchors_checked", 0) < 1:
        assert time.monotonic() < deadline, "no anchor was written"
        time.sleep(0.5)
    folder = tmp_path_factory.mktemp("export")
    path = folder / "session.jsonl"
    result = aosiq(stack, "export", session, "--output", str(path))
    assert result.returncode == 0, result.stderr
    keys = client.get(f"/api/v1/sessions/{session}/anchors").json()["public_keys"]
    (folder / "keys.json").write_text(json.dumps(keys))
    return {"session": session, "path": path, "keys": folder / "keys.json"}


def lines_of(path: Path) -> tuple[list[dict[str, Any]], list[str], dict[str, str]]:
    entries, anchors, keys = [], [], {}
    for line in path.read_text().splitlines():
        item = json.loads(line)
        if "anchor" in item:
            anchors.append(item["anchor"])
        elif "anchor_public_keys" in item:
            keys = item["anchor_public_keys"]
        else:
            entries.append(item)
    return entries, anchors, keys


def write(path: Path, entries: list[dict[str, Any]], anchors: list[str], keys: dict[str, str]) -> Path:
    lines = [json.dumps(e) for e in entries] + [json.dumps({"anchor": a}) for a in anchors]
    path.write_text("\n".join([*lines, json.dumps({"anchor_public_keys": keys})]) + "\n")
    return path


def rewrite_from(entries: list[dict[str, Any]], seq: int) -> list[dict[str, Any]]:
    """Change entry `seq`'s record and recompute every hash after it: the chain alone stays consistent."""
    forged = [dict(e) for e in entries]
    for index, entry in enumerate(forged):
        if entry["chain_seq"] == seq:
            entry["record"] = entry["record"].replace('"payload":{', '"payload":{"forged":true,', 1)
        if entry["chain_seq"] >= seq:
            prev = bytes.fromhex(forged[index - 1]["hash"]) if index else bytes.fromhex(entry["prev_hash"])
            entry["prev_hash"] = prev.hex()
            entry["hash"] = entry_hash(prev, entry["chain_seq"], entry["record"].encode()).hex()
    return forged


def verify_file(stack: RunningStack, path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = aosiq(stack, "verify-file", str(path), "--json", *extra)
    return result.returncode, json.loads(result.stdout)


def test_intact_export_verifies_with_its_anchors(stack: RunningStack, exported: dict[str, Any]) -> None:
    code, report = verify_file(stack, exported["path"], "--public-keys", str(exported["keys"]))
    assert code == 0 and report["ok"], report
    assert report["anchors_checked"] >= 1


def test_recomputed_rewrite_is_caught_by_the_anchors(stack: RunningStack, exported: dict[str, Any],
                                                     tmp_path: Path) -> None:
    entries, anchors, keys = lines_of(exported["path"])
    first_anchor = min(json.loads(a)["checkpoint"]["chain_seq"] for a in anchors)
    forged = write(tmp_path / "forged.jsonl", rewrite_from(entries, first_anchor), anchors, keys)
    code, report = verify_file(stack, forged, "--public-keys", str(exported["keys"]))
    assert code == 1 and not report["ok"]
    assert 1 <= report["first_bad_seq"] <= first_anchor
    # Without its anchors the same forgery would pass: they are what catches it.
    code, report = verify_file(stack, write(tmp_path / "bare.jsonl", rewrite_from(entries, first_anchor), [], {}))
    assert code == 0 and report["ok"]


def test_resigned_anchors_are_caught_once_the_keys_are_pinned(stack: RunningStack, exported: dict[str, Any],
                                                              tmp_path: Path) -> None:
    entries, anchors, _keys = lines_of(exported["path"])
    forged_entries = rewrite_from(entries, 1)
    hashes = {e["chain_seq"]: bytes.fromhex(e["hash"]) for e in forged_entries}
    attacker = AnchorSigner(Ed25519PrivateKey.generate())
    resigned, previous = [], b""
    for document in sorted(anchors, key=lambda a: json.loads(a)["checkpoint"]["chain_seq"]):
        seq = json.loads(document)["checkpoint"]["chain_seq"]
        checkpoint = Checkpoint(session_id=exported["session"], chain_seq=seq, head_hash=hashes[seq],
                                prev_anchor_hash=previous, created_at=datetime.now(UTC), key_id=attacker.key_id)
        resigned.append(attacker.sign(checkpoint).decode())
        previous = checkpoint.anchor_hash
    attacker_keys = {attacker.key_id: attacker.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()}
    forged = write(tmp_path / "resigned.jsonl", forged_entries, resigned, attacker_keys)
    code, report = verify_file(stack, forged)
    assert code == 0, "with the export's own keys a full forgery is consistent (hence --public-keys)"
    code, report = verify_file(stack, forged, "--public-keys", str(exported["keys"]))
    assert code == 1 and not report["ok"]
    assert "unknown key" in report["problem"]
