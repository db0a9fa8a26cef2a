"""Mutual TLS between the services, and who may call which internal RPC.

Each process holds a certificate from the deployment's internal CA whose
common name is its service ("gateway", "kernel", "policy", "audit"). With TLS
on, every internal call is encrypted, both ends prove their certificate, and
a server refuses an internal RPC from a peer whose service is not on that
RPC's list (`CALLERS`): only policy and the kernel append to the audit chain,
only the kernel asks policy for decisions, and so on.

TLS is on when a process gets all three of `AOS_TLS_CA_FILE`,
`AOS_TLS_CERT_FILE` and `AOS_TLS_KEY_FILE`. `aosiq up` always sets them, with
certificates it issues under `$AOS_HOME/secrets/tls` (`issue_local`); `aosiq
tls-issue DIR` does the same for a deployment. Without them, internal calls are
plaintext and trust the network; each service's start line in its log says
which (`internal_tls`).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aos_common.config import ConfigError

ENV_CA, ENV_CERT, ENV_KEY = "AOS_TLS_CA_FILE", "AOS_TLS_CERT_FILE", "AOS_TLS_KEY_FILE"
SERVICES = ("gateway", "kernel", "policy", "audit")
LAUNCHER = "launcher"  # `aosiq up` itself, to ask each service's health
VALID_DAYS = 365
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")

_TOKEN_READERS = frozenset({"gateway", "kernel", "audit"})
# Internal RPCs and the services allowed to call them. Anything else under
# aos.v1 is a public RPC, which the gateway forwards (and policy, kernel and
# audit never call each other's public RPCs); health and reflection are open
# to any peer with a certificate from the CA.
CALLERS: Mapping[str, frozenset[str]] = {
    "/aos.v1.AuditWriterService/AppendEvent": frozenset({"policy", "kernel"}),
    "/aos.v1.PolicyService/Authorize": frozenset({"kernel"}),
    "/aos.v1.PolicyService/Complete": frozenset({"kernel"}),
    "/aos.v1.PolicyService/MintAgentToken": frozenset({"kernel"}),
    "/aos.v1.PolicyService/RenewAgentToken": frozenset({"kernel"}),
    "/aos.v1.PolicyService/RegisterTools": frozenset({"kernel"}),
    "/aos.v1.PolicyService/GetSessionCost": frozenset({"kernel"}),
    "/aos.v1.PolicyService/RetireAgentTokens": frozenset({"kernel"}),
    "/aos.v1.PolicyService/GetJwks": _TOKEN_READERS,
    "/aos.v1.PolicyService/GetRevocations": _TOKEN_READERS,
    "/aos.v1.StatusService/GetStatus": frozenset({"gateway"}),
}
PUBLIC_CALLERS = frozenset({"gateway"})
OPEN_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


class TlsConfigError(ConfigError):
    """The TLS settings are incomplete or their files unreadable; the message says which."""


@dataclass(frozen=True, repr=False)
class ServiceTls:
    """One process's identity on the internal network (PEM bytes)."""

    ca: bytes
    cert: bytes
    key: bytes

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials([(self.key, self.cert)], root_certificates=self.ca,
                                           require_client_auth=True)

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(root_certificates=self.ca, private_key=self.key,
                                            certificate_chain=self.cert)

    def __repr__(self) -> str:  # never the key
        return "ServiceTls(...)"


def server_credentials(identity: ServiceTls | None) -> grpc.ServerCredentials | None:
    """What an internal port binds with: mutual TLS as `identity`, or None (plaintext)."""
    return identity.server_credentials() if identity else None


def from_env(env: Mapping[str, str] | None = None) -> ServiceTls | None:
    """The process's TLS identity, or None when no TLS setting is given."""
    source = os.environ if env is None else env
    given = {name: source.get(name, "") for name in (ENV_CA, ENV_CERT, ENV_KEY)}
    if not any(given.values()):
        return None
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise TlsConfigError(f"internal TLS needs {ENV_CA}, {ENV_CERT} and {ENV_KEY}; missing {', '.join(missing)}")
    return ServiceTls(*(_read(name, Path(path)) for name, path in given.items()))


def load(directory: Path, identity: str) -> ServiceTls:
    """`identity`'s certificate and key from a directory that `issue_local` wrote."""
    return ServiceTls(*(_read(name, Path(path)) for name, path in env_for(directory, identity).items()))


def _read(setting: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TlsConfigError(f"{setting}: cannot read {path}: {exc.strerror}") from None


def env_for(directory: Path, identity: str) -> dict[str, str]:
    """The three settings that give a process `identity`'s certificate from `directory`."""
    return {
        ENV_CA: str(directory / "ca.crt"),
        ENV_CERT: str(directory / f"{identity}.crt"),
        ENV_KEY: str(directory / f"{identity}.key"),
    }


def peer_service(context: grpc.aio.ServicerContext) -> str | None:
    """The service named by the caller's verified certificate (None without TLS)."""
    names = list(context.auth_context().get("x509_common_name", ()))
    return names[0].decode() if names else None


def allowed_callers(method: str) -> frozenset[str] | None:
    """Who may call `method` over TLS (None: any peer the CA vouches for)."""
    if method.startswith(OPEN_PREFIXES):
        return None
    return CALLERS.get(method, PUBLIC_CALLERS)


def issue_local(
    directory: Path, identities: Iterable[str], hosts: Iterable[str] = LOCAL_HOSTS, reuse: bool = True
) -> None:
    """A CA and a certificate per identity in `directory`; keys are written 0600.
    Each certificate names its identity as common name and as a DNS name, plus
    `hosts`. With `reuse`, certificates still valid for more than a week are kept."""
    identities, hosts = list(identities), list(hosts)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    if reuse and _still_valid(directory, identities):
        return
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aosiq internal CA")])
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    for identity in identities:
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = [x509.DNSName(identity)]
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        cert = (
            _builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity)]), ca_name, key.public_key(), now)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH, x509.ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        _write_private(directory / f"{identity}.key", _key_pem(key))
        (directory / f"{identity}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    # The CA's key is not needed after issuing, so it is never written.
    (directory / "ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey,
             now: datetime.datetime) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _still_valid(directory: Path, identities: list[str]) -> bool:
    try:
        ca = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
        certs = [x509.load_pem_x509_certificate((directory / f"{name}.crt").read_bytes()) for name in identities]
        if not all((directory / f"{name}.key").exists() for name in identities):
            return False
    except (OSError, ValueError):
        return False
    horizon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=7)
    for cert in [ca, *certs]:
        if cert.not_valid_after_utc < horizon:
            return False
    for cert in certs:
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            return False
    return True
