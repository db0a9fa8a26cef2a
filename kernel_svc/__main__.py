"""`python -m kernel_svc` serves the API with in-process workers and the reaper;
`python -m kernel_svc worker` runs workers only."""

from __future__ import annotations

import asyncio
import sys

from aos_common.config import ConfigError
from aos_common.logs import setup_logging
from aos_common.telemetry import setup_tracing, shutdown_tracing
from kernel_svc import app
from kernel_svc.config import load


def main(argv: list[str]) -> None:
    if argv not in ([], ["worker"]):
        raise SystemExit("usage: python -m kernel_svc [worker]")
    try:
        config = load()
    except ConfigError as error:
        raise SystemExit(f"kernel: {error}") from None
    setup_logging("kernel", config.log_level)
    setup_tracing("kernel")
    try:
        if argv == ["worker"]:
            asyncio.run(app.run_workers(config))
        else:
            asyncio.run(app.serve(config))
    finally:
        shutdown_tracing()


main(sys.argv[1:])
