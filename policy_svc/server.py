"""Wiring: builds the policy service from its config and runs it (`python -m policy_svc [rotate-key]`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import grpc

from aos.v1 import agent_classes_pb2, approvals_pb2, policy_internal_pb2, status_pb2, tokens_pb2
from aos.v1 import agent_classes_pb2_grpc as classes_grpc
from aos.v1 import approvals_pb2_grpc as approvals_grpc
from aos.v1 import policy_internal_pb2_grpc as policy_grpc
from aos.v1 import status_pb2_grpc as status_grpc
from aos.v1 import tokens_pb2_grpc as tokens_grpc
from aos_common import tls
from aos_common.entry import Service
from aos_common.errors import AosError
from aos_common.grpc_server import bind, build_server, run_until_stopped
from aos_common.logs import log_fields
from aos_common.rpc import channel
from policy_svc.agent_tokens import AgentTokens
from policy_svc.approvals import ApprovalDesk
from policy_svc.audit import AuditLog
from policy_svc.authority import TokenAuthority
from policy_svc.bootstrap import ensure_bootstrap_token
from policy_svc.config import PolicyConfig, load, load_key_dir
from policy_svc.keys import KeyRing
from policy_svc.operators import Operators
from policy_svc.pricing import PriceTable
from policy_svc.service import AgentClassServicer, ApprovalServicer, PolicyServicer, StatusServicer, TokenServicer
from policy_svc.spawn_limits import SpawnLimits
from policy_svc.store import Store
from policy_svc.syscalls import Syscalls

log = logging.getLogger(__name__)

MAINTENANCE_SECONDS = 60.0


@dataclass
class Policy:
    """Everything the servicers need, built once per process."""

    config: PolicyConfig
    store: Store
    keys: KeyRing
    audit_channel: grpc.aio.Channel
    authority: TokenAuthority
    audit: AuditLog
    operators: Operators
    approvals: ApprovalDesk
    syscalls: Syscalls
    agent_tokens: AgentTokens

    def register(self, server: grpc.aio.Server) -> Iterable[str]:
        policy_grpc.add_PolicyServiceServicer_to_server(
            PolicyServicer(self.syscalls, self.agent_tokens, self.authority), server)
        tokens_grpc.add_TokenServiceServicer_to_server(TokenServicer(self.operators, self.authority), server)
        classes_grpc.add_AgentClassServiceServicer_to_server(
            AgentClassServicer(self.operators, self.authority), server)
        approvals_grpc.add_ApprovalServiceServicer_to_server(ApprovalServicer(self.approvals, self.authority), server)
        status_grpc.add_StatusServiceServicer_to_server(StatusServicer(), server)
        return [
            policy_internal_pb2.DESCRIPTOR.services_by_name["PolicyService"].full_name,
            tokens_pb2.DESCRIPTOR.services_by_name["TokenService"].full_name,
            agent_classes_pb2.DESCRIPTOR.services_by_name["AgentClassService"].full_name,
            approvals_pb2.DESCRIPTOR.services_by_name["ApprovalService"].full_name,
            status_pb2.DESCRIPTOR.services_by_name["StatusService"].full_name,
        ]

    async def maintain_once(self) -> None:
        """Rotate the signing key when due, drop keys no live token needs,
        expire overdue approvals, and keep the bootstrap token valid."""
        rotation = self.config.key_rotation_seconds
        if rotation and self.keys.age_seconds() >= rotation:
            log.info("rotated signing key", extra=log_fields(kid=self.keys.rotate().kid))
        removed = self.keys.prune(await self.store.kids_in_use())
        if removed:
            log.info("retired signing keys removed", extra=log_fields(kids=removed))
        await self.approvals.expire_stale()
        await self.keep_bootstrap_token(wait=False)

    async def keep_bootstrap_token(self, *, wait: bool) -> None:
        if self.config.bootstrap_token_file is not None:
            await ensure_bootstrap_token(self.authority, self.store, self.audit, self.config.bootstrap_token_file,
                                         self.config.admin_token_ttl_seconds, wait=wait)

    async def maintain_forever(self) -> None:
        # Audit may start after policy: the first bootstrap waits for it.
        await self.keep_bootstrap_token(wait=True)
        while True:
            try:
                await self.maintain_once()
            except AosError as error:
                log.warning("maintenance pass failed", extra=log_fields(reason=error.reason, error=error.message))
            await asyncio.sleep(MAINTENANCE_SECONDS)

    async def close(self) -> None:
        await self.audit_channel.close()
        await self.store.close()


async def build(config: PolicyConfig) -> Policy:
    """Every part of policy, connected to its database and to audit; binds nothing."""
    keys = KeyRing(config.key_dir)
    keys.ensure()
    prices = PriceTable.load(config.price_table_file)
    store = await Store.connect(config.database_url)
    audit_channel = channel(config.audit_address, config.tls)
    audit = AuditLog(audit_channel)
    authority = TokenAuthority(keys, store, config.auth_mode)
    approvals = ApprovalDesk(store, audit)
    return Policy(
        config=config, store=store, keys=keys, audit_channel=audit_channel, authority=authority,
        audit=audit, operators=Operators(authority, store, audit, config.admin_token_ttl_seconds),
        approvals=approvals,
        syscalls=Syscalls(authority, store, audit, prices, approvals, config.approval_ttl_seconds),
        agent_tokens=AgentTokens(authority, store, audit, config.token_ttl_seconds,
                                 SpawnLimits(config.max_agents_per_session, config.max_spawn_depth)),
    )


async def serve(config: PolicyConfig) -> None:
    policy = await build(config)
    server, health, names = build_server([policy.register], identity=config.tls)
    port = bind(server, config.listen, tls.server_credentials(config.tls))
    log.info("policy service listening", extra=log_fields(address=config.listen, port=port,
                                                          auth_mode=config.auth_mode, kid=policy.keys.current().kid,
                                                          internal_tls=config.tls is not None))
    maintenance = asyncio.create_task(policy.maintain_forever())

    async def stop() -> None:
        maintenance.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await maintenance
        await policy.close()

    await run_until_stopped(server, health, names, on_stop=stop, service="policy",
                            stall_seconds=config.loop_stall_seconds)


def rotate_key() -> int:
    """`python -m policy_svc rotate-key`: add a new signing key (needs only AOS_POLICY_KEY_DIR)."""
    key = KeyRing(load_key_dir()).rotate()
    print(f"new signing key {key.kid}; older keys keep verifying until their tokens expire")
    return 0


SERVICE = Service("policy", load, serve, offline={"rotate-key": rotate_key})
