"""`python -m policy_svc` serves; `python -m policy_svc rotate-key` adds a new signing key."""

from __future__ import annotations

import asyncio
import sys

from aos_common.config import ConfigError
from aos_common.logs import setup_logging
from aos_common.telemetry import setup_tracing, shutdown_tracing
from policy_svc import config
from policy_svc.app import serve
from policy_svc.keys import KeyRing


def main(argv: list[str]) -> int:
    if argv[:1] == ["rotate-key"]:
        key = KeyRing(config.load_key_dir()).rotate()
        print(f"new signing key {key.kid}; older keys keep verifying until their tokens expire")
        return 0
    if argv:
        print("usage: python -m policy_svc [rotate-key]", file=sys.stderr)
        return 2
    try:
        settings = config.load()
    except ConfigError as error:
        print(f"policy: {error}", file=sys.stderr)
        return 2
    setup_logging("policy", settings.log_level)
    setup_tracing("policy")
    try:
        asyncio.run(serve(settings))
    finally:
        shutdown_tracing()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
