"""Clients outside Python reach the runtime through the gateway's gRPC port:
the Node.js example (grpc-js, protos loaded at run time) and `buf curl` over
server reflection."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack import RunningStack

ROOT = Path(__file__).resolve().parents[2]
NODE_EXAMPLE = ROOT / "examples" / "node-client"
BUF = Path(sys.executable).parent / "buf"

CLASS_NAME = "node-demo"
CLASS = {
    "name": CLASS_NAME,
    "backend": "openai",
    "model": "aos-scripted",
    "allowed_backends": ["openai"],
    "capabilities": ["fs.read_file"],
    "cost_ceiling_usd": 1.0,
}


@pytest.fixture(scope="module")
def node_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are not installed")
    workdir = tmp_path_factory.mktemp("node-client")
    for name in ("client.js", "package.json"):
        shutil.copy(NODE_EXAMPLE / name, workdir / name)
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=workdir,
                   check=True, capture_output=True, timeout=300)
    return workdir


def run_node(workdir: Path, stack: RunningStack, token: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AOS_GRPC_ADDRESS": stack.grpc_address, "AOS_PROTOS_DIR": str(ROOT / "protos"),
           "AOS_AGENT_CLASS": CLASS_NAME, "AOS_GRANTS": "fs.read_file"}
    env.pop("AOS_TOKEN", None)
    if token is not None:
        env["AOS_TOKEN"] = token
    return subprocess.run(["node", "client.js"], cwd=workdir, env=env, capture_output=True, text=True, timeout=60)


def test_node_client_spawns_and_lists_approvals(stack: RunningStack, node_client: Path) -> None:
    with stack.client() as client:
        assert client.post("/api/v1/agent-classes", json=CLASS).status_code in (200, 409)
    result = run_node(node_client, stack, stack.admin_token)
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["agent"]["agent_id"] and reply["agent"]["grants"] == ["fs.read_file"]
    assert isinstance(reply["approvals"], list)


def test_node_client_sees_the_reason_code_of_a_refusal(stack: RunningStack, node_client: Path) -> None:
    result = run_node(node_client, stack, "forged.token.value")
    assert result.returncode == 1
    assert "UNAUTHENTICATED" in result.stderr


def test_buf_curl_reaches_the_gateway_through_reflection(stack: RunningStack) -> None:
    result = subprocess.run(
        [str(BUF), "curl", "--protocol", "grpc", "--http2-prior-knowledge",
         "-H", f"authorization: Bearer {stack.admin_token}",
         f"http://{stack.grpc_address}/aos.v1.AgentClassService/ListAgentClasses"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "agentClasses" in result.stdout or "agent_classes" in result.stdout or result.stdout.strip() == "{}"
