"""Structured logs: one JSON object a line, with secrets scrubbed on the way out."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

# Bearer tokens, JWTs and provider keys never reach a log line whole.
_SECRET_PATTERNS = [
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    re.compile(r"(?i)(bearer\s+)[^\s\"']+"),
    re.compile(r"sk-[A-Za-z0-9_-]{8,}"),
    re.compile(r"(?i)(secret_access_key|password|api_key)(['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
]


def redact(text: str) -> str:
    """Replace anything token- or key-shaped in text."""
    text = _SECRET_PATTERNS[0].sub("[REDACTED-JWT]", text)
    text = _SECRET_PATTERNS[1].sub(r"\1[REDACTED]", text)
    text = _SECRET_PATTERNS[2].sub("[REDACTED-KEY]", text)
    return _SECRET_PATTERNS[3].sub(r"\1\2[REDACTED]", text)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update({k: redact(str(v)) if isinstance(v, str) else v for k, v in fields.items()})
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("botocore", "boto3", "urllib3", "httpx", "httpx2", "httpcore", "httpcore2", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log_fields(**fields: object) -> dict[str, dict[str, object]]:
    """`logger.info("msg", extra=log_fields(agent_id=...))`."""
    return {"fields": fields}
