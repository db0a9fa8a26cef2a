"""Assembles the kernel from its parts, for the API process and for worker processes
(`python -m kernel_svc [worker]`)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterable
from dataclasses import dataclass, replace

import grpc

from aos.v1 import agents_pb2, agents_pb2_grpc, status_pb2, status_pb2_grpc, tool_servers_pb2, tool_servers_pb2_grpc
from aos.v1 import audit_internal_pb2_grpc as audit_grpc
from aos.v1 import policy_internal_pb2_grpc as policy_grpc
from aos_common import tls
from aos_common.entry import Service
from aos_common.errors import AosError
from aos_common.grpc_server import bind, build_server, run_until_stopped
from aos_common.logs import log_fields
from aos_common.rpc import channel
from aos_common.verifier import TokenVerifier
from aos_common.watchdog import start_watchdog
from kernel_svc.audit import AuditClient
from kernel_svc.backends import Backends
from kernel_svc.config import KernelConfig, load
from kernel_svc.failpoints import Failpoints
from kernel_svc.invoking import ToolInvoker
from kernel_svc.loop import AgentLoop, LoopSettings
from kernel_svc.management import AgentManager
from kernel_svc.mcp.servers import McpSettings, ToolServers
from kernel_svc.reaper import Reaper
from kernel_svc.retirement import Retirement
from kernel_svc.service import AgentService, StatusService, ToolServerService
from kernel_svc.spawning import Spawner
from kernel_svc.store import Store
from kernel_svc.syscalls import SyscallBoundary
from kernel_svc.tools.builtin import builtin_registry
from kernel_svc.tools.code import SandboxStatus
from kernel_svc.tools.code import install as install_code_tool
from kernel_svc.tools.declarations import declare
from kernel_svc.tools.registry import ToolRegistry
from kernel_svc.worker import WorkerPool, WorkerSettings

log = logging.getLogger(__name__)


@dataclass
class Kernel:
    config: KernelConfig
    store: Store
    channels: list[grpc.aio.Channel]
    policy: policy_grpc.PolicyServiceStub
    registry: ToolRegistry
    spawner: Spawner
    workers: WorkerPool
    invoker: ToolInvoker
    audit: AuditClient
    tool_servers: ToolServers
    sandbox: SandboxStatus

    async def close(self) -> None:
        await self.tool_servers.close()
        for ch in self.channels:
            await ch.close()
        await self.store.close()


async def build(config: KernelConfig) -> Kernel:
    config.workspace.mkdir(parents=True, exist_ok=True)
    store = await Store.connect(config.database_url, max_size=max(4, config.workers + 3))
    policy_channel = channel(config.policy_address, config.tls)
    audit_channel = channel(config.audit_address, config.tls)
    policy = policy_grpc.PolicyServiceStub(policy_channel)
    registry = builtin_registry()
    sandbox = await install_code_tool(config.sandbox, registry)
    spawner = Spawner(policy, store)
    backends = Backends(config.providers)
    if config.workers:
        backends.warm()
    boundary = SyscallBoundary(policy, store, Failpoints(config.failpoint),
                               tool_timeout_s=config.tool_timeout_seconds)
    audit = AuditClient(audit_grpc.AuditWriterServiceStub(audit_channel))
    loop = AgentLoop(
        store=store,
        boundary=boundary,
        registry=registry,
        backends=backends,
        audit=audit,
        spawner=spawner,
        settings=LoopSettings(
            workspace=config.workspace,
            max_steps=config.max_steps,
            max_output_tokens=config.max_output_tokens,
            approval_poll_seconds=config.approval_poll_seconds,
        ),
    )
    workers = WorkerPool(store, loop, WorkerSettings(config.workers, config.heartbeat_seconds,
                                                      config.claim_idle_seconds))
    invoker = ToolInvoker(store, boundary, registry, config.workspace)
    tool_servers = ToolServers(store, registry, policy, audit, McpSettings(
        workspace=config.workspace,
        connect_timeout_s=config.mcp_connect_timeout_seconds,
        call_timeout_s=config.mcp_call_timeout_seconds,
        max_backoff_s=config.mcp_max_backoff_seconds,
    ))
    # Approved MCP tools are in the registry before any worker resumes an agent.
    await tool_servers.start()
    return Kernel(config, store, [policy_channel, audit_channel], policy, registry, spawner, workers, invoker,
                  audit, tool_servers, sandbox)


async def register_tools(policy: policy_grpc.PolicyServiceStub, registry: ToolRegistry, stop: asyncio.Event) -> None:
    """Declare the tools to policy, retrying until it is up: policy, not the kernel,
    decides from these declarations which calls need approval."""
    delay = 0.5
    while not stop.is_set():
        try:
            registered = await declare(policy, registry.all())
            log.info("tools registered with policy", extra=log_fields(registered=registered))
            return
        except AosError as error:
            log.warning("tool registration failed; retrying", extra=log_fields(reason=error.reason))
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


async def serve(config: KernelConfig) -> None:
    """The API process: AgentService + StatusService, AOS_WORKERS workers and the reaper."""
    kernel = await build(config)
    verifier = TokenVerifier(kernel.policy)
    manager = AgentManager(kernel.store, kernel.policy, kernel.audit)
    agents = AgentService(kernel.store, kernel.spawner, manager, verifier, config.auth_mode, kernel.invoker)
    status = StatusService(kernel.store, config.orphan_after_seconds, kernel.tool_servers, kernel.sandbox)
    tool_servers = ToolServerService(kernel.tool_servers, verifier, config.auth_mode)

    def register(server: grpc.aio.Server) -> Iterable[str]:
        agents_pb2_grpc.add_AgentServiceServicer_to_server(agents, server)
        status_pb2_grpc.add_StatusServiceServicer_to_server(status, server)
        tool_servers_pb2_grpc.add_ToolServerServiceServicer_to_server(tool_servers, server)
        return [agents_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
                status_pb2.DESCRIPTOR.services_by_name["StatusService"].full_name,
                tool_servers_pb2.DESCRIPTOR.services_by_name["ToolServerService"].full_name]

    server, health, names = build_server([register], identity=config.tls)
    bind(server, config.listen, tls.server_credentials(config.tls))
    stop = asyncio.Event()
    reaper = Reaper(kernel.store, orphan_after_seconds=config.orphan_after_seconds,
                    interval_seconds=config.heartbeat_seconds)
    retirement = Retirement(kernel.store, kernel.policy, interval_seconds=config.heartbeat_seconds)
    background = [
        asyncio.create_task(register_tools(kernel.policy, kernel.registry, stop)),
        asyncio.create_task(kernel.workers.work_until(stop)),
        asyncio.create_task(reaper.patrol(stop)),
        asyncio.create_task(retirement.patrol(stop)),
        asyncio.create_task(kernel.tool_servers.patrol(stop, config.heartbeat_seconds)),
    ]

    async def on_stop() -> None:
        stop.set()
        await asyncio.gather(*background, return_exceptions=True)
        await kernel.close()

    log.info("kernel listening", extra=log_fields(address=config.listen, workers=config.workers,
                                                    internal_tls=config.tls is not None))
    await run_until_stopped(server, health, names, on_stop=on_stop, service="kernel",
                            stall_seconds=config.loop_stall_seconds)


async def run_workers(config: KernelConfig) -> None:
    """A worker-only process (scale-out): claims and advances agents until SIGTERM."""
    kernel = await build(replace(config, workers=max(1, config.workers)))
    watchdog = start_watchdog("kernel-worker", config.loop_stall_seconds)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    patrol = asyncio.create_task(kernel.tool_servers.patrol(stop, config.heartbeat_seconds))
    try:
        await kernel.workers.work_until(stop)
    finally:
        await patrol
        if watchdog is not None:
            watchdog.stop()
        await kernel.close()


SERVICE = Service("kernel", load, serve, runners={"worker": run_workers})
