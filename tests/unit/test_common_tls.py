"""Issuing the internal CA's certificates, loading a process's identity, and the caller table."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from aos_common import tls

IDENTITIES = ["gateway", "kernel", "policy", "audit", tls.LAUNCHER]


def cert(directory: Path, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((directory / f"{name}.crt").read_bytes())


def test_each_identity_gets_a_certificate_naming_it_and_signed_by_the_ca(tmp_path: Path) -> None:
    tls.issue_local(tmp_path, IDENTITIES)
    ca = cert(tmp_path, "ca")
    for name in IDENTITIES:
        issued = cert(tmp_path, name)
        issued.verify_directly_issued_by(ca)
        assert issued.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
        names = issued.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert name in names.get_values_for_type(x509.DNSName)
        assert "localhost" in names.get_values_for_type(x509.DNSName)
        assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}


def test_keys_are_private_and_the_ca_key_is_never_written(tmp_path: Path) -> None:
    directory = tmp_path / "tls"
    tls.issue_local(directory, IDENTITIES)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for name in IDENTITIES:
        assert stat.S_IMODE((directory / f"{name}.key").stat().st_mode) == 0o600
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        ["ca.crt", *(f"{n}.crt" for n in IDENTITIES), *(f"{n}.key" for n in IDENTITIES)]
    )


def test_valid_certificates_are_kept_and_a_missing_one_reissues_all(tmp_path: Path) -> None:
    tls.issue_local(tmp_path, IDENTITIES)
    first = (tmp_path / "ca.crt").read_bytes()
    tls.issue_local(tmp_path, IDENTITIES)
    assert (tmp_path / "ca.crt").read_bytes() == first
    (tmp_path / "kernel.key").unlink()
    tls.issue_local(tmp_path, IDENTITIES)
    assert (tmp_path / "ca.crt").read_bytes() != first
    cert(tmp_path, "kernel").verify_directly_issued_by(cert(tmp_path, "ca"))


def test_without_settings_there_is_no_tls_and_half_the_settings_are_refused(tmp_path: Path) -> None:
    assert tls.from_env({}) is None
    tls.issue_local(tmp_path, ["kernel"])
    env = tls.env_for(tmp_path, "kernel")
    loaded = tls.from_env(env)
    assert loaded is not None and loaded.cert == (tmp_path / "kernel.crt").read_bytes()
    assert "PRIVATE" not in repr(loaded)
    with pytest.raises(tls.TlsConfigError, match=tls.ENV_KEY):
        tls.from_env({**env, tls.ENV_KEY: ""})
    with pytest.raises(tls.TlsConfigError, match=f"{tls.ENV_CERT}: cannot read"):
        tls.from_env({**env, tls.ENV_CERT: str(tmp_path / "missing.crt")})


def test_the_caller_table() -> None:
    assert tls.allowed_callers("/aos.v1.AuditWriterService/AppendEvent") == {"policy", "kernel"}
    assert tls.allowed_callers("/aos.v1.PolicyService/Authorize") == {"kernel"}
    assert tls.allowed_callers("/aos.v1.PolicyService/GetJwks") == {"gateway", "kernel", "audit"}
    assert tls.allowed_callers("/aos.v1.AgentService/ListAgents") == {"gateway"}
    assert tls.allowed_callers("/grpc.health.v1.Health/Check") is None
