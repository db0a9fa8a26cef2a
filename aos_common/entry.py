"""The one way a service process starts: `python -m <service> [command]`.

Every service's `__main__.py` is a single call to `run`. It loads the config
(a bad setting is one line on stderr and exit 2, never a traceback), sets up
logging and tracing, and runs the service's `serve(config)` — or one of its
named commands: an async one that takes the config (the kernel's `worker`), or
an offline one that needs no config (policy's `rotate-key`).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

from aos_common.config import ConfigError
from aos_common.logs import setup_logging
from aos_common.telemetry import setup_tracing, shutdown_tracing

EXIT_USAGE = 2


class ServiceConfig(Protocol):
    @property
    def log_level(self) -> str: ...


# asyncio.run takes a coroutine: each runner is an `async def`.
Runner = Callable[[Any], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Service:
    """What `python -m <name>` can do: serve, and the named commands."""

    name: str
    load: Callable[[], ServiceConfig]
    serve: Runner
    # Commands that run with the config, like serve (the kernel's `worker`).
    runners: Mapping[str, Runner] = field(default_factory=dict)
    # Commands that need no config and return an exit code (policy's `rotate-key`).
    offline: Mapping[str, Callable[[], int]] = field(default_factory=dict)

    def usage(self) -> str:
        commands = sorted({*self.runners, *self.offline})
        return f"usage: python -m {self.name}" + (f" [{'|'.join(commands)}]" if commands else "")


def main(service: Service, argv: Sequence[str]) -> int:
    """Run `service` as `argv` asks; returns the process's exit code."""
    command = argv[0] if argv else ""
    if len(argv) > 1 or (command and command not in service.runners and command not in service.offline):
        print(service.usage(), file=sys.stderr)
        return EXIT_USAGE
    try:
        if command in service.offline:
            return service.offline[command]()
        config = service.load()
    except ConfigError as error:
        print(f"{service.name}: {error}", file=sys.stderr)
        return EXIT_USAGE
    setup_logging(service.name, config.log_level)
    setup_tracing(service.name)
    try:
        asyncio.run(service.runners.get(command, service.serve)(config))
    finally:
        shutdown_tracing()
    return 0


def run(service: Service) -> NoReturn:
    """The body of every service's `__main__.py`."""
    raise SystemExit(main(service, sys.argv[1:]))
