"""The gateway's settings: public TLS both or neither and readable; request timeouts positive."""

from __future__ import annotations

from pathlib import Path

import pytest

from aos_common.config import ConfigError
from gateway.config import PUBLIC_CERT, PUBLIC_KEY, PublicTls, load, load_public_tls


def test_no_setting_means_plaintext() -> None:
    assert load_public_tls({}) is None


def test_both_readable_files_turn_tls_on(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("cert")
    (tmp_path / "k.pem").write_text("key")
    loaded = load_public_tls({PUBLIC_CERT: str(tmp_path / "c.pem"), PUBLIC_KEY: str(tmp_path / "k.pem")})
    assert loaded == PublicTls(tmp_path / "c.pem", tmp_path / "k.pem")
    assert loaded.cert() == b"cert" and loaded.key() == b"key"


@pytest.mark.parametrize("given", [PUBLIC_CERT, PUBLIC_KEY])
def test_half_a_setting_is_refused(given: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs both"):
        load_public_tls({given: str(tmp_path)})


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"{PUBLIC_KEY}: cannot read"):
        load_public_tls({PUBLIC_CERT: str(tmp_path), PUBLIC_KEY: str(tmp_path / "missing.pem")})


BACKENDS = {"AOS_KERNEL_ADDRESS": "k:1", "AOS_POLICY_ADDRESS": "p:1", "AOS_AUDIT_ADDRESS": "a:1"}


def test_request_timeouts_default_and_are_read_from_the_environment() -> None:
    default = load(BACKENDS)
    assert (default.body_total_seconds, default.body_idle_seconds, default.header_timeout_seconds) == (30, 10, 10)
    given = load({**BACKENDS, "AOS_HTTP_BODY_TIMEOUT_SECONDS": "5", "AOS_HTTP_BODY_IDLE_SECONDS": "0.5"})
    assert (given.body_total_seconds, given.body_idle_seconds) == (5.0, 0.5)


@pytest.mark.parametrize(
    "name", ["AOS_HTTP_BODY_TIMEOUT_SECONDS", "AOS_HTTP_BODY_IDLE_SECONDS", "AOS_HTTP_HEADER_TIMEOUT_SECONDS"]
)
def test_a_body_timeout_must_be_positive(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load({**BACKENDS, name: "0"})
