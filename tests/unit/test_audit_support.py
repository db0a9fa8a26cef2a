"""The audit service's key file, local anchor store, settings, and the offline export check."""

from __future__ import annotations

import asyncio
import json
import stat
import uuid
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from aos_common.config import ConfigError
from aosiq.cli_audit import app
from audit_svc.anchor_documents import load_or_create_key
from audit_svc.anchor_store import AnchorStoreError, LocalAnchorStore
from audit_svc.config import load
from tests.unit.test_audit_verify import build_chain


def test_signing_key_is_created_private_and_then_reused(tmp_path) -> None:
    path = tmp_path / "secrets" / "audit.key"
    first = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path).private_bytes_raw() == first.private_bytes_raw()


def test_local_store_writes_read_only_files_and_never_overwrites(tmp_path) -> None:
    store = LocalAnchorStore(tmp_path)
    session = str(uuid.uuid4())
    key = f"anchors/{session}/0000000010-aa.json"
    asyncio.run(store.put(key, b"one"))
    asyncio.run(store.put(key, b"one"))  # a retried upload of the same anchor is fine
    assert stat.S_IMODE((tmp_path / key).stat().st_mode) == 0o444
    with pytest.raises(AnchorStoreError, match="other content"):
        asyncio.run(store.put(key, b"two"))
    with pytest.raises(AnchorStoreError, match="escapes"):
        asyncio.run(store.put("../outside.json", b"x"))
    assert asyncio.run(store.list_session(session)) == [b"one"]
    assert asyncio.run(store.list_session(str(uuid.uuid4()))) == []


BASE = {"AOS_AUDIT_DATABASE_URL": "postgresql://aos_audit:pw@db/aos", "AOS_POLICY_ADDRESS": "127.0.0.1:1",
        "AOS_HOME": "/tmp/aos-home"}


def test_settings_without_an_endpoint_use_the_local_dev_store() -> None:
    config = load(BASE)
    assert config.s3 is None and str(config.anchor_dir) == "/tmp/aos-home/anchors"
    assert (config.anchor_every_events, config.anchor_every_seconds) == (100, 10.0)
    assert "pw@" not in repr(config)


def test_s3_settings_keep_the_secret_out_of_their_repr() -> None:
    config = load({**BASE, "AOS_ANCHOR_ENDPOINT": "http://s3:9000", "AOS_ANCHOR_BUCKET": "b",
                   "AOS_ANCHOR_ACCESS_KEY_ID": "id", "AOS_ANCHOR_SECRET_ACCESS_KEY": "very-secret",
                   "AOS_ANCHOR_RETENTION_MODE": "governance"})
    assert config.s3 is not None and config.s3.retention_mode == "GOVERNANCE" and config.s3.region == "us-east-1"
    assert "very-secret" not in repr(config)


@pytest.mark.parametrize("extra", [{"AOS_ANCHOR_ENDPOINT": "http://s3"}, {"AOS_ANCHOR_EVERY_SECONDS": "0"},
                                   {"AOS_ANCHOR_EVERY_EVENTS": "x"}])
def test_bad_settings_are_named(extra: dict) -> None:
    with pytest.raises(ConfigError, match="AOS_"):
        load({**BASE, **extra})


def _export(tmp_path, chain) -> str:
    path = tmp_path / "chain.jsonl"
    path.write_text("".join(
        json.dumps({"session_id": str(uuid.UUID(int=42)), "chain_seq": e.chain_seq, "event_type": e.event_type,
                    "record": e.record.decode(), "prev_hash": e.prev_hash.hex(), "hash": e.hash.hex(),
                    "created_at": datetime.now(UTC).isoformat()}) + "\n"
        for e in chain))
    return str(path)


def test_verify_file_accepts_an_intact_export_and_rejects_a_tampered_one(tmp_path) -> None:
    chain = build_chain(12)
    runner = CliRunner()
    ok = runner.invoke(app, ["verify-file", _export(tmp_path, chain), "--json"])
    assert ok.exit_code == 0 and json.loads(ok.output)["length"] == 12
    chain[6] = chain[6]._replace(record=chain[6].record.replace(b'"n":7', b'"n":8'))
    bad = runner.invoke(app, ["verify-file", _export(tmp_path, chain)])
    assert bad.exit_code == 1 and "first bad seq 7" in bad.output
    (tmp_path / "junk.jsonl").write_text("{not json\n")
    assert runner.invoke(app, ["verify-file", str(tmp_path / "junk.jsonl")]).exit_code == 2
