"""`aosiq up` as a user runs it: embedded PostgreSQL, no settings, supervision, clean stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from aosiq.launcher import free_port

ROOT = Path(__file__).resolve().parents[2]


def launch(home: Path, **extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("AOS_DATABASE_URL", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "AOS_OLLAMA_BASE_URL")}
    env.update({"AOS_HOME": str(home), "AOS_HTTP_PORT": str(free_port()), "AOS_GRPC_PORT": str(free_port())})
    env.update(extra)
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "aosiq", "up"], env=env, cwd=ROOT,
                            stdout=(home / "up.out").open("wb"), stderr=subprocess.STDOUT)


def wait_for_runtime(home: Path, process: subprocess.Popen[bytes], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError((home / "up.out").read_text())
        path = home / "runtime.json"
        if path.exists():
            return json.loads(path.read_text())
        time.sleep(0.2)
    raise AssertionError("aosiq up did not write runtime.json")


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, subprocess.Popen[bytes], dict]]:
    home = tmp_path_factory.mktemp("embedded_home")
    process = launch(home)
    try:
        yield home, process, wait_for_runtime(home, process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(60)


def test_up_serves_health_on_embedded_defaults(embedded) -> None:
    home, _process, info = embedded
    reply = httpx.get(info["http_url"] + "/api/v1/health", timeout=10)
    assert reply.status_code == 200
    body = reply.json()
    assert body["auth_mode"] == "enforced"
    assert body["audit_anchors"]["store"] == "local-dev"
    assert {"successes", "failures"} <= set(body["audit_anchors"])
    assert "status" in body["scheduler"] and "workers" in body["scheduler"]
    for key in ("http_url", "grpc_address", "database_url", "fake_llm_url", "workspace"):
        assert info[key], key
    token_file = home / "admin.token"
    assert token_file.stat().st_mode & 0o077 == 0, "admin token must be private to its owner"


def test_a_dead_service_is_restarted(embedded) -> None:
    home, _process, info = embedded
    victim = info["pids"]["kernel"]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        current = json.loads((home / "runtime.json").read_text())["pids"]["kernel"]
        if current != victim:
            health = httpx.get(info["http_url"] + "/api/v1/health", timeout=10).json()
            if health["scheduler"]["status"] == "ok":
                return
        time.sleep(0.5)
    raise AssertionError("the kernel was not restarted")


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = sock.getsockname()[1]
        process = launch(tmp_path / "home", AOS_HTTP_PORT=str(taken))
        assert process.wait(60) != 0
    output = (tmp_path / "home" / "up.out").read_text()
    assert f"port {taken}" in output and "taken" in output


def test_sigterm_stops_every_child(embedded) -> None:
    home, process, _info = embedded
    pids = json.loads((home / "runtime.json").read_text())["pids"]
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0
    survivors = [pid for pid in pids.values() if psutil.pid_exists(pid) and
                 psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert survivors == []
