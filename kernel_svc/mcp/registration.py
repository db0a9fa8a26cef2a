"""A tool server registration, checked: names, transport, command or URL,
credentials and overrides. Everything wrong is an INVALID_ARGUMENT naming the
field; nothing is stored or started before the whole request is good.

`env` and `headers` are the server's credentials. They are kept in the
kernel's own table and handed to the server; the audit record and every API
answer carry their names only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aos_common.capabilities import is_server_name
from aos_common.errors import InvalidArgument
from kernel_svc.mcp import definitions as defs
from kernel_svc.mcp.connection import Endpoint

TRANSPORTS = ("stdio", "http")
MAX_COMMAND_WORDS = 64
MAX_WORD_CHARS = 4096
MAX_SECRETS = 64
MAX_SECRET_CHARS = 8192
MAX_URL_CHARS = 2048
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")


@dataclass(frozen=True, repr=False)
class Registration:
    name: str
    transport: str
    command: tuple[str, ...] = ()
    url: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    overrides: Mapping[str, defs.Override] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Registration(name={self.name!r}, transport={self.transport!r})"

    def endpoint(self) -> Endpoint:
        return Endpoint(self.name, self.transport, self.command, self.url, dict(self.env), dict(self.headers))

    def audit_payload(self, tools: list[dict[str, Any]]) -> dict[str, Any]:
        """What the chain records: no credential values, only their names."""
        return {
            "server": self.name,
            "transport": self.transport,
            "command": list(self.command),
            "url": self.url,
            "env_names": sorted(self.env),
            "header_names": sorted(self.headers),
            "overrides": {k: v.to_json() for k, v in sorted(self.overrides.items())},
            "tools": tools,
        }


def check(name: str, transport: str, command: list[str], url: str, env: Mapping[str, str],
          headers: Mapping[str, str], overrides: Mapping[str, defs.Override]) -> Registration:
    if not is_server_name(name):
        raise InvalidArgument("name must be 1-63 characters of a-z, 0-9, _ and -, starting with a letter or digit")
    if transport not in TRANSPORTS:
        raise InvalidArgument(f"transport must be one of {', '.join(TRANSPORTS)}")
    if transport == "stdio":
        if not command or not command[0].strip():
            raise InvalidArgument("a stdio server needs a command")
        if url or headers:
            raise InvalidArgument("url and headers are for http servers")
        if len(command) > MAX_COMMAND_WORDS or any(len(w) > MAX_WORD_CHARS or "\0" in w for w in command):
            raise InvalidArgument(f"command must be at most {MAX_COMMAND_WORDS} words without NUL bytes")
    else:
        if command or env:
            raise InvalidArgument("command and env are for stdio servers")
        parts = urlsplit(url)
        if len(url) > MAX_URL_CHARS or parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidArgument("url must be an http:// or https:// URL")
        if parts.username or parts.password:
            raise InvalidArgument("put credentials in headers, not in the url")
    _check_secrets("env", env, ENV_NAME)
    _check_secrets("headers", headers, HEADER_NAME)
    for tool in overrides:
        if not defs.TOOL_NAME.match(tool):
            raise InvalidArgument(f"overrides names {tool[:64]!r}, which is not a tool name")
    return Registration(name, transport, tuple(command), url, dict(env), dict(headers), dict(overrides))


def _check_secrets(what: str, values: Mapping[str, str], pattern: re.Pattern[str]) -> None:
    if len(values) > MAX_SECRETS:
        raise InvalidArgument(f"at most {MAX_SECRETS} {what} entries")
    for key, value in values.items():
        if not pattern.match(key):
            raise InvalidArgument(f"{what} key {key[:64]!r} is not a valid name")
        if len(value) > MAX_SECRET_CHARS or "\0" in value or "\n" in value:
            raise InvalidArgument(f"{what} value for {key!r} is too long or holds NUL or newline")
