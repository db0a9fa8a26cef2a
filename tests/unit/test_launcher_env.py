"""`aosiq up` gives each service its own credentials and nobody else's."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from aosiq.launcher import Child, LaunchError, Stack, UpSettings, service_env, wait_http_ready

SOURCE = {
    "PATH": "/usr/bin",
    "AOS_ANCHOR_ENDPOINT": "http://127.0.0.1:9",
    "AOS_ANCHOR_SECRET_ACCESS_KEY": "anchor-secret",
    "ANTHROPIC_API_KEY": "provider-secret",
    "AOS_TOKEN_TTL_SECONDS": "60",
    "UNRELATED_SECRET": "nope",
}
DSNS = {svc: f"postgresql://aos_{svc}:{svc}-password@/db" for svc in ("kernel", "policy", "audit")}


def make_stack(tmp_path: Path) -> Stack:
    settings = UpSettings.load({"AOS_HOME": str(tmp_path)})
    stack = Stack(settings=settings, admin_dsn="postgresql://postgres@/db")
    stack.addresses.update({"kernel": "127.0.0.1:1", "policy": "127.0.0.1:2", "audit": "127.0.0.1:3"})
    return stack


def test_each_secret_reaches_exactly_one_service(tmp_path: Path) -> None:
    stack = make_stack(tmp_path)
    envs = {svc: service_env(stack, svc, SOURCE, DSNS) for svc in ("audit", "policy", "kernel", "gateway")}
    holders = {
        secret: {svc for svc, env in envs.items() if any(secret in value for value in env.values())}
        for secret in ("anchor-secret", "provider-secret", "kernel-password", "policy-password", "audit-password")
    }
    assert holders == {
        "anchor-secret": {"audit"},
        "provider-secret": {"kernel"},
        "kernel-password": {"kernel"},
        "policy-password": {"policy"},
        "audit-password": {"audit"},
    }
    assert all("UNRELATED_SECRET" not in env for env in envs.values())
    assert envs["policy"]["AOS_TOKEN_TTL_SECONDS"] == "60"
    assert "AOS_TOKEN_TTL_SECONDS" not in envs["kernel"]


def test_gateway_gets_no_database_and_no_signing_material(tmp_path: Path) -> None:
    env = service_env(make_stack(tmp_path), "gateway", SOURCE, DSNS)
    env.pop("AOS_TLS_KEY_FILE")  # its own transport key (below), which signs nothing on record
    assert not any(key.endswith("DATABASE_URL") or "KEY" in key for key in env)


def test_each_service_gets_its_own_tls_key_and_the_shared_ca(tmp_path: Path) -> None:
    stack = make_stack(tmp_path)
    envs = {svc: service_env(stack, svc, SOURCE, DSNS) for svc in ("audit", "policy", "kernel", "gateway")}
    for svc, env in envs.items():
        assert Path(env["AOS_TLS_KEY_FILE"]) == stack.tls_dir / f"{svc}.key"
        assert Path(env["AOS_TLS_CERT_FILE"]) == stack.tls_dir / f"{svc}.crt"
        assert Path(env["AOS_TLS_CA_FILE"]) == stack.tls_dir / "ca.crt"


def test_a_service_that_dies_while_starting_is_reported_with_its_last_log_lines(tmp_path: Path) -> None:
    script = ("import sys; print('\\n'.join(f'line {i}' for i in range(20)));"
              "print('bind: address already in use'); sys.exit(3)")
    child = Child("gateway", [sys.executable, "-c", script], {}, tmp_path / "logs" / "gateway.log")
    child.start()
    with pytest.raises(LaunchError) as raised:
        wait_http_ready(child, "http://127.0.0.1:9/api/v1/health", timeout=30)
    message = str(raised.value)
    assert message.startswith("gateway exited with code 3 while starting")
    assert "bind: address already in use" in message
    assert "line 19" in message and "line 5\n" not in message
