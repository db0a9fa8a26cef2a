"""The gateway's settings, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aos_common.config import (
    LOOP_STALL_SECONDS,
    ConfigError,
    auth_mode,
    env_float,
    env_int,
    env_str,
    loop_stall_seconds,
)
from aos_common.tls import ServiceTls
from aos_common.tls import from_env as tls_from_env
from gateway.body_limit import DEFAULT_IDLE_SECONDS, DEFAULT_TOTAL_SECONDS
from gateway.header_deadline import DEFAULT_HEADER_TIMEOUT_SECONDS

PUBLIC_CERT, PUBLIC_KEY = "AOS_PUBLIC_TLS_CERT_FILE", "AOS_PUBLIC_TLS_KEY_FILE"


@dataclass(frozen=True)
class PublicTls:
    """The certificate (chain) and key the public ports serve TLS with."""

    cert_file: Path
    key_file: Path

    def cert(self) -> bytes:
        return self.cert_file.read_bytes()

    def key(self) -> bytes:
        return self.key_file.read_bytes()


def load_public_tls(env: Mapping[str, str] | None = None) -> PublicTls | None:
    """TLS on the public HTTP and gRPC ports: both settings, or neither (plaintext)."""
    source = os.environ if env is None else env
    cert, key = source.get(PUBLIC_CERT, ""), source.get(PUBLIC_KEY, "")
    if not cert and not key:
        return None
    if not cert or not key:
        raise ConfigError(f"public TLS needs both {PUBLIC_CERT} and {PUBLIC_KEY}")
    for name, path in ((PUBLIC_CERT, cert), (PUBLIC_KEY, key)):
        if not os.access(path, os.R_OK):
            raise ConfigError(f"{name}: cannot read {path}")
    return PublicTls(Path(cert), Path(key))


@dataclass(frozen=True)
class GatewayConfig:
    http_host: str
    http_port: int
    grpc_port: int
    kernel_address: str
    policy_address: str
    audit_address: str
    auth_mode: str
    # Longest a forwarded call may wait for its backend before the caller gets 504.
    backend_timeout_seconds: float
    # Per-backend deadline of the health check, so health answers even when a backend hangs.
    health_timeout_seconds: float
    log_level: str
    # Longest a request body may take to arrive in all, and longest gap between its chunks (408 after).
    body_total_seconds: float = DEFAULT_TOTAL_SECONDS
    body_idle_seconds: float = DEFAULT_IDLE_SECONDS
    # Longest a request's headers may take to arrive, from the connection or its first byte (408 after).
    header_timeout_seconds: float = DEFAULT_HEADER_TIMEOUT_SECONDS
    tls: ServiceTls | None = None
    loop_stall_seconds: float = LOOP_STALL_SECONDS
    public_tls: PublicTls | None = None


def _positive(name: str, default: float, env: Mapping[str, str] | None) -> float:
    value = env_float(name, default, env)
    if value <= 0:
        raise ConfigError(f"{name} must be above 0, got {value}")
    return value


def load(env: Mapping[str, str] | None = None) -> GatewayConfig:
    return GatewayConfig(
        http_host=env_str("AOS_HTTP_HOST", "127.0.0.1", env),
        http_port=env_int("AOS_HTTP_PORT", 8080, env, minimum=0),
        grpc_port=env_int("AOS_GRPC_PORT", 50051, env, minimum=0),
        kernel_address=env_str("AOS_KERNEL_ADDRESS", None, env),
        policy_address=env_str("AOS_POLICY_ADDRESS", None, env),
        audit_address=env_str("AOS_AUDIT_ADDRESS", None, env),
        auth_mode=auth_mode(env),
        backend_timeout_seconds=env_float("AOS_BACKEND_TIMEOUT_SECONDS", 30.0, env),
        health_timeout_seconds=env_float("AOS_HEALTH_TIMEOUT_SECONDS", 1.0, env),
        log_level=env_str("AOS_LOG_LEVEL", "INFO", env),
        loop_stall_seconds=loop_stall_seconds(env),
        tls=tls_from_env(env),
        public_tls=load_public_tls(env),
        body_total_seconds=_positive("AOS_HTTP_BODY_TIMEOUT_SECONDS", DEFAULT_TOTAL_SECONDS, env),
        body_idle_seconds=_positive("AOS_HTTP_BODY_IDLE_SECONDS", DEFAULT_IDLE_SECONDS, env),
        header_timeout_seconds=_positive("AOS_HTTP_HEADER_TIMEOUT_SECONDS", DEFAULT_HEADER_TIMEOUT_SECONDS, env),
    )
