"""Reading settings from the environment, once, with clear errors.

Each service has its own frozen config dataclass built by a `load()` function;
these helpers keep the parsing and the error messages the same everywhere.
Nothing is read at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it."""


def aos_home(env: Mapping[str, str] | None = None) -> Path:
    """`AOS_HOME`, where a local deployment keeps its state: `~/.aosiq` unless set."""
    source = os.environ if env is None else env
    return Path(source.get("AOS_HOME") or Path.home() / ".aosiq").expanduser()


def env_str(name: str, default: str | None = None, env: Mapping[str, str] | None = None) -> str:
    source = os.environ if env is None else env
    value = source.get(name)
    if value is None or value == "":
        if default is None:
            raise ConfigError(f"{name} must be set")
        return default
    return value


def env_int(name: str, default: int, env: Mapping[str, str] | None = None, minimum: int | None = None) -> int:
    raw = env_str(name, str(default), env)
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def env_float(name: str, default: float, env: Mapping[str, str] | None = None) -> float:
    raw = env_str(name, str(default), env)
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def env_choice(name: str, default: str, choices: tuple[str, ...], env: Mapping[str, str] | None = None) -> str:
    value = env_str(name, default, env).lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


AUTH_MODES = ("enforced", "warn", "disabled")
LOOP_STALL_SECONDS = 20.0


def loop_stall_seconds(env: Mapping[str, str] | None = None) -> float:
    """AOS_LOOP_STALL_SECONDS: how long the event loop may stop ticking before the
    process exits to be restarted (aos_common/watchdog.py); 0 turns that off."""
    return env_float("AOS_LOOP_STALL_SECONDS", LOOP_STALL_SECONDS, env)


def auth_mode(env: Mapping[str, str] | None = None) -> str:
    return env_choice("AOS_AUTH_MODE", "enforced", AUTH_MODES, env)
