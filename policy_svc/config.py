"""Policy service settings, read once from the environment by `load()`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aos_common import config as env
from aos_common.tls import ServiceTls
from aos_common.tls import from_env as tls_from_env


@dataclass(frozen=True)
class PolicyConfig:
    listen: str
    database_url: str = field(repr=False)
    audit_address: str
    key_dir: Path
    auth_mode: str = "enforced"
    token_ttl_seconds: int = 3600
    admin_token_ttl_seconds: int = 86400
    approval_ttl_seconds: int = 86400
    bootstrap_token_file: Path | None = None
    price_table_file: Path | None = None
    # 0 disables automatic rotation; `python -m policy_svc rotate-key` always works.
    key_rotation_seconds: int = 0
    # Spawn limits for a class that sets none: agents per session, depth below the root agent.
    max_agents_per_session: int = 64
    max_spawn_depth: int = 4
    log_level: str = "INFO"
    tls: ServiceTls | None = None
    loop_stall_seconds: float = env.LOOP_STALL_SECONDS


def _default_key_dir(source: Mapping[str, str]) -> str:
    return str(env.aos_home(source) / "policy" / "keys")


def _optional_path(name: str, source: Mapping[str, str]) -> Path | None:
    value = source.get(name)
    return Path(value).expanduser() if value else None


def load_key_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Only the key directory: what `rotate-key` needs, without the rest."""
    source = os.environ if environ is None else environ
    return Path(env.env_str("AOS_POLICY_KEY_DIR", _default_key_dir(source), source)).expanduser()


def load(environ: Mapping[str, str] | None = None) -> PolicyConfig:
    source = os.environ if environ is None else environ
    return PolicyConfig(
        listen=env.env_str("AOS_POLICY_LISTEN", "127.0.0.1:50052", source),
        database_url=env.env_str("AOS_POLICY_DATABASE_URL", None, source),
        audit_address=env.env_str("AOS_AUDIT_ADDRESS", None, source),
        key_dir=load_key_dir(source),
        auth_mode=env.auth_mode(source),
        tls=tls_from_env(source),
        token_ttl_seconds=env.env_int("AOS_TOKEN_TTL_SECONDS", 3600, source, minimum=1),
        admin_token_ttl_seconds=env.env_int("AOS_ADMIN_TOKEN_TTL_SECONDS", 86400, source, minimum=1),
        approval_ttl_seconds=env.env_int("AOS_APPROVAL_TTL_SECONDS", 86400, source, minimum=1),
        bootstrap_token_file=_optional_path("AOS_BOOTSTRAP_TOKEN_FILE", source),
        price_table_file=_optional_path("AOS_PRICE_TABLE_FILE", source),
        key_rotation_seconds=env.env_int("AOS_POLICY_KEY_ROTATION_SECONDS", 0, source, minimum=0),
        max_agents_per_session=env.env_int("AOS_MAX_AGENTS_PER_SESSION", 64, source, minimum=1),
        max_spawn_depth=env.env_int("AOS_MAX_SPAWN_DEPTH", 4, source, minimum=1),
        log_level=env.env_str("AOS_LOG_LEVEL", "INFO", source),
        loop_stall_seconds=env.loop_stall_seconds(source),
    )
