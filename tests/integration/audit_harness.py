"""What the audit integration tests share: a stand-in policy service that
publishes a test signing key (so real tokens can be verified), token minting,
and an audit service started in-process on a loopback port."""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aos.v1 import policy_internal_pb2 as policy_pb
from aos.v1 import policy_internal_pb2_grpc as policy_grpc
from aos_common.tokens import ALGORITHM, Claims
from audit_svc.anchor_store import AnchorStore
from audit_svc.config import AuditConfig, S3Settings
from audit_svc.server import AuditServer, build


@dataclass
class FakePolicy(policy_grpc.PolicyServiceServicer):
    """Serves only what token verification needs: the JWKS and the revocation list."""

    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    kid: str = "test-key-1"
    revoked: set[str] = field(default_factory=set)

    def jwks_json(self) -> str:
        raw = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return (
            '{"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", '
            f'"kid": "{self.kid}", "x": "{x}"}}]}}'
        )

    async def GetJwks(self, request, context):
        return policy_pb.GetJwksResponse(jwks_json=self.jwks_json())

    async def GetRevocations(self, request, context):
        return policy_pb.GetRevocationsResponse(revoked_jtis=sorted(self.revoked))

    def mint(self, capabilities: set[str], ttl: int = 300, jti: str | None = None) -> str:
        now = int(time.time())
        claims = Claims(
            jti=jti or uuid.uuid4().hex,
            subject="operator@test",
            kind="operator",
            capabilities=frozenset(capabilities),
            backends=frozenset(),
            issued_at=now,
            expires_at=now + ttl,
        )
        return jwt.encode(claims.to_payload(), self.key, algorithm=ALGORITHM, headers={"kid": self.kid})


async def start_policy(policy: FakePolicy) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    policy_grpc.add_PolicyServiceServicer_to_server(policy, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


def audit_config(
    dsn: str,
    policy_address: str,
    home: Path,
    every_events: int = 100,
    every_seconds: float = 10.0,
    s3: S3Settings | None = None,
) -> AuditConfig:
    return AuditConfig(
        listen="127.0.0.1:0",
        database_url=dsn,
        policy_address=policy_address,
        auth_mode="enforced",
        key_file=home / "secrets" / "audit-anchor.key",
        anchor_dir=home / "anchors",
        s3=s3,
        anchor_every_events=every_events,
        anchor_every_seconds=every_seconds,
    )


async def start_audit(config: AuditConfig, anchor_store: AnchorStore | None = None) -> AuditServer:
    audit = await build(config, anchor_store)
    await audit.server.start()
    return audit


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)
