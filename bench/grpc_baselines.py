"""The baselines a governed call is compared with: bare grpc.aio servers with no logic.

    python -m bench.grpc_baselines echo PORT            # answers with the request bytes
    python -m bench.grpc_baselines forward PORT NEXT    # passes each call (and its metadata) on to NEXT

Raw bytes in and out (no (de)serialisation), so the figures are gRPC and
asyncio themselves. `chain()` starts four processes: forward → forward →
forward → echo, i.e. four hops like gateway → kernel → policy → audit.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import grpc

from aosiq.launcher import free_port

METHOD = "/bench.Baseline/Call"


def _handler(behaviour: grpc.RpcMethodHandler) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler("bench.Baseline", {"Call": behaviour})


async def serve(port: int, next_address: str | None) -> None:
    server = grpc.aio.server()
    if next_address is None:
        async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            return request

        server.add_generic_rpc_handlers([_handler(grpc.unary_unary_rpc_method_handler(echo))])
    else:
        forward: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = grpc.aio.insecure_channel(next_address).unary_unary(
            METHOD
        )

        async def relay(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            metadata = tuple((k, v) for k, v in context.invocation_metadata() or () if k == "authorization")
            return bytes(await forward(request, metadata=metadata, timeout=30))

        server.add_generic_rpc_handlers([_handler(grpc.unary_unary_rpc_method_handler(relay))])
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


async def _ready(address: str, within_seconds: float) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        await asyncio.wait_for(channel.channel_ready(), within_seconds)


@contextmanager
def baseline_processes(hops: int) -> Iterator[str]:
    """Start `hops` processes (the last an echo, the others forwarders); yield the first's address."""
    ports = [free_port() for _ in range(hops)]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for index in reversed(range(hops)):
            args = ["echo", str(ports[index])] if index == hops - 1 else \
                ["forward", str(ports[index]), f"127.0.0.1:{ports[index + 1]}"]
            processes.append(subprocess.Popen([sys.executable, "-m", "bench.grpc_baselines", *args]))
        for port in ports:
            deadline = time.monotonic() + 20
            while True:
                try:
                    asyncio.run(_ready(f"127.0.0.1:{port}", 2.0))
                    break
                except (TimeoutError, grpc.aio.AioRpcError):
                    if time.monotonic() > deadline:
                        raise
        yield f"127.0.0.1:{ports[0]}"
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)


def main() -> None:
    role, port = sys.argv[1], int(sys.argv[2])
    asyncio.run(serve(port, sys.argv[3] if role == "forward" else None))


if __name__ == "__main__":
    main()
