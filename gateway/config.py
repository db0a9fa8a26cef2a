"""The gateway's settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aos_common.config import auth_mode, env_float, env_int, env_str
from aos_common.tls import ServiceTls
from aos_common.tls import from_env as tls_from_env


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
    tls: ServiceTls | None = None


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
        tls=tls_from_env(env),
    )
