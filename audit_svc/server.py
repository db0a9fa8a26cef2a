"""Assembling and running the audit service process."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health

from aos.v1 import audit_internal_pb2, audit_pb2, status_pb2, status_pb2_grpc
from aos.v1 import audit_internal_pb2_grpc as internal_grpc
from aos.v1 import audit_pb2_grpc as pb_grpc
from aos.v1 import policy_internal_pb2_grpc as policy_grpc
from aos_common import tls
from aos_common.entry import Service
from aos_common.grpc_server import bind, build_server, run_until_stopped
from aos_common.logs import log_fields
from aos_common.rpc import channel
from aos_common.verifier import TokenVerifier
from audit_svc.anchor_documents import AnchorSigner, load_or_create_key
from audit_svc.anchor_store import AnchorStore, open_store
from audit_svc.anchorer import Anchorer
from audit_svc.auditor import Auditor
from audit_svc.config import AuditConfig, load
from audit_svc.service import AuditServicer, AuditWriterServicer, StatusServicer
from audit_svc.store import AuditStore

log = logging.getLogger(__name__)

SERVICE_NAMES = (
    audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name,
    audit_internal_pb2.DESCRIPTOR.services_by_name["AuditWriterService"].full_name,
    status_pb2.DESCRIPTOR.services_by_name["StatusService"].full_name,
)


@dataclass
class AuditServer:
    """A started audit service: its gRPC server, port and background anchorer."""

    server: grpc.aio.Server
    health: health.aio.HealthServicer
    port: int
    anchorer: Anchorer
    store: AuditStore
    policy_channel: grpc.aio.Channel

    async def close(self) -> None:
        """After the server has stopped taking calls: flush anchors, release connections."""
        await self.anchorer.stop()
        await self.store.close()
        await self.policy_channel.close()

    async def stop(self, grace_seconds: float = 1.0) -> None:
        await self.server.stop(grace_seconds)
        await self.close()


async def build(config: AuditConfig, anchor_store: AnchorStore | None = None) -> AuditServer:
    """Build everything and bind (not start) the server; `anchor_store` overrides the configured one."""
    signer = AnchorSigner(load_or_create_key(config.key_file))
    anchors = anchor_store or open_store(config.s3, config.anchor_dir)
    store = await AuditStore.open(config.database_url)
    anchorer = Anchorer(store, anchors, signer, config.anchor_every_events, config.anchor_every_seconds)
    auditor = Auditor(store, anchors, anchorer, {signer.key_id: signer.public_key})
    policy_channel = channel(config.policy_address, config.tls)
    verifier = TokenVerifier(policy_grpc.PolicyServiceStub(policy_channel))

    def register(server: grpc.aio.Server) -> Iterable[str]:
        internal_grpc.add_AuditWriterServiceServicer_to_server(AuditWriterServicer(auditor), server)
        pb_grpc.add_AuditServiceServicer_to_server(AuditServicer(auditor, verifier, config.auth_mode), server)
        status_pb2_grpc.add_StatusServiceServicer_to_server(StatusServicer(anchorer), server)
        return SERVICE_NAMES

    server, health_servicer, _ = build_server([register], identity=config.tls)
    port = bind(server, config.listen, tls.server_credentials(config.tls))
    await anchorer.start()
    log.info(
        "audit service ready",
        extra=log_fields(port=port, anchor_store=anchors.kind, key_id=signer.key_id, auth_mode=config.auth_mode,
                         internal_tls=config.tls is not None),
    )
    return AuditServer(server, health_servicer, port, anchorer, store, policy_channel)


async def serve(config: AuditConfig) -> None:
    audit = await build(config)
    await run_until_stopped(audit.server, audit.health, SERVICE_NAMES, on_stop=audit.close, service="audit",
                            stall_seconds=config.loop_stall_seconds)


SERVICE = Service("audit", load, serve)
