"""The audit service's settings, read once from the environment by `load()`.

The anchor store's credentials live here and nowhere else in the runtime:
no other service is given them, and they are never logged (`S3Settings`
hides the secret from its repr).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aos_common import config as env
from aos_common.tls import ServiceTls
from aos_common.tls import from_env as tls_from_env


@dataclass(frozen=True)
class S3Settings:
    endpoint: str
    bucket: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    region: str = "us-east-1"
    # Object-lock retention applied to each anchor when the bucket has object lock.
    retention_mode: str = "COMPLIANCE"
    retention_days: int = 365


@dataclass(frozen=True)
class AuditConfig:
    listen: str
    database_url: str = field(repr=False)
    policy_address: str
    auth_mode: str
    key_file: Path
    anchor_dir: Path
    s3: S3Settings | None
    anchor_every_events: int = 100
    anchor_every_seconds: float = 10.0
    log_level: str = "INFO"
    tls: ServiceTls | None = None
    loop_stall_seconds: float = env.LOOP_STALL_SECONDS


def _s3(source: Mapping[str, str]) -> S3Settings | None:
    endpoint = source.get("AOS_ANCHOR_ENDPOINT", "")
    if not endpoint:
        return None
    return S3Settings(
        endpoint=endpoint,
        bucket=env.env_str("AOS_ANCHOR_BUCKET", env=source),
        access_key_id=env.env_str("AOS_ANCHOR_ACCESS_KEY_ID", env=source),
        secret_access_key=env.env_str("AOS_ANCHOR_SECRET_ACCESS_KEY", env=source),
        region=env.env_str("AOS_ANCHOR_REGION", "us-east-1", env=source),
        retention_mode=env.env_choice(
            "AOS_ANCHOR_RETENTION_MODE", "compliance", ("compliance", "governance"), env=source
        ).upper(),
        retention_days=env.env_int("AOS_ANCHOR_RETENTION_DAYS", 365, env=source, minimum=1),
    )


def load(source: Mapping[str, str] | None = None) -> AuditConfig:
    source = os.environ if source is None else source
    home = env.aos_home(source)
    every_seconds = env.env_float("AOS_ANCHOR_EVERY_SECONDS", 10.0, env=source)
    if every_seconds <= 0:
        raise env.ConfigError("AOS_ANCHOR_EVERY_SECONDS must be positive")
    return AuditConfig(
        listen=env.env_str("AOS_AUDIT_LISTEN", "127.0.0.1:50053", env=source),
        database_url=env.env_str("AOS_AUDIT_DATABASE_URL", env=source),
        policy_address=env.env_str("AOS_POLICY_ADDRESS", env=source),
        auth_mode=env.auth_mode(source),
        tls=tls_from_env(source),
        key_file=Path(env.env_str("AOS_AUDIT_KEY_FILE", str(home / "secrets" / "audit-anchor.key"), env=source)),
        anchor_dir=Path(env.env_str("AOS_ANCHOR_DIR", str(home / "anchors"), env=source)),
        s3=_s3(source),
        anchor_every_events=env.env_int("AOS_ANCHOR_EVERY_EVENTS", 100, env=source, minimum=1),
        anchor_every_seconds=every_seconds,
        log_level=env.env_str("AOS_LOG_LEVEL", "INFO", env=source),
        loop_stall_seconds=env.loop_stall_seconds(source),
    )
