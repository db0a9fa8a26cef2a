"""A real gRPC server on loopback, built by the shared bootstrap, for unit tests of what crosses the wire."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from aos_common.grpc_server import Registrar, build_server


@asynccontextmanager
async def serving(register: Registrar) -> AsyncIterator[tuple[grpc.aio.Server, str]]:
    """The started server and its address; stopped on the way out."""
    server, _health, _names = build_server([register])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield server, f"127.0.0.1:{port}"
    finally:
        await server.stop(0)
