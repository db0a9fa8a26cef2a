"""Secrets never reach a log line whole."""

from __future__ import annotations

import json
import logging

from aos_common.logs import JsonFormatter, log_fields, redact

# Fake key shapes, assembled so that no literal key prefix sits in the repository.
FAKE_KEY = "sk-" + "ant-api03-abcdefghijkl"
JWT = "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.eyJzdWIiOiJib290c3RyYXAtYWRtaW4ifQ.c2lnbmF0dXJlLWJ5dGVz"


def test_tokens_and_keys_are_redacted() -> None:
    text = redact(f"auth=Bearer {JWT} key={FAKE_KEY} password=hunter2 secret_access_key: s3cr3t")
    for secret in (JWT, FAKE_KEY, "hunter2", "s3cr3t"):
        assert secret not in text


def test_formatter_emits_one_json_object_with_fields_redacted() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "calling with %s", (JWT,), None)
    record.fields = log_fields(token=JWT, agent_id="a1")["fields"]
    line = JsonFormatter("kernel").format(record)
    entry = json.loads(line)
    assert entry["service"] == "kernel" and entry["agent_id"] == "a1"
    assert JWT not in line
