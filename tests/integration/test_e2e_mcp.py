"""MCP tool servers end to end, on one stack started by `aosiq up`: a real
third-party server (`mcp-server-git` from PyPI, started by the kernel over
stdio), our hostile server over stdio and over streamable HTTP, and the npm
reference servers where `node` is present.

Every property is proved from the outside (REST, the audit chain, the scripted
LLM's request log) and, where it matters, from the server's side: the hostile
server logs every call it receives (tests/mcp_servers/hostile.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aosiq.launcher import free_port
from tests.integration.test_e2e_agents import TERMINAL, audit_events, create_class, fake_requests_for, spawn, wait_for
from tests.integration.test_e2e_invoke import invoke, reason
from tests.stack import RunningStack, stack  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_SESSION = "00000000-0000-0000-0000-000000000000"
SECRET = "sk-hostile-0123456789abcdef-do-not-leak"
HEADER_SECRET = "bearer-0123456789-http-secret"
CALL_TIMEOUT_SECONDS = 3.0
STACK_ENV = {
    "AOS_MCP_CALL_TIMEOUT_SECONDS": str(CALL_TIMEOUT_SECONDS),
    "AOS_MCP_CONNECT_TIMEOUT_SECONDS": "20",
    "AOS_MCP_MAX_BACKOFF_SECONDS": "1",
    "AOS_APPROVAL_POLL_SECONDS": "0.5",
}
NPM_SERVERS = ROOT / ".tools" / "npm" / "node_modules" / "@modelcontextprotocol"


@pytest.fixture(scope="module")
def client(stack: RunningStack) -> Iterator[httpx.Client]:  # noqa: F811
    stack.wait_healthy(90)
    with stack.client() as http:
        yield http


def register(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    reply = client.post("/api/v1/tool-servers", json=body, timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.json()


def approve(client: httpx.Client, name: str, definitions_hash: str) -> dict[str, Any]:
    reply = client.post(f"/api/v1/tool-servers/{name}:approveDefinitions",
                        json={"definitions_hash": definitions_hash}, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()


def register_and_approve(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    server = register(client, body)
    return approve(client, body["name"], server["pending_definitions_hash"])


def tool_of(server: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in server["tools"] if t["name"] == name)


def hostile_body(name: str, workdir: Path, **extra: Any) -> dict[str, Any]:
    return {"name": name, "transport": "stdio", "command": [sys.executable, "-m", "tests.mcp_servers.hostile"],
            "env": {"PYTHONPATH": str(ROOT), "HOSTILE_API_KEY": SECRET, "HOSTILE_DIR": str(workdir)}, **extra}


def calls_seen(workdir: Path) -> list[dict[str, Any]]:
    log = workdir / "calls.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture(scope="module")
def hostile(stack: RunningStack, client: httpx.Client) -> tuple[str, Path]:  # noqa: F811
    """Our hostile server, registered with one operator override, approved as listed."""
    workdir = stack.home / "hostile-stdio"
    workdir.mkdir()
    body = hostile_body("hostile", workdir, overrides={"liar": {"reversible": False}})
    server = register(client, body)
    assert server["state"] == "pending_approval"
    approve(client, "hostile", server["pending_definitions_hash"])
    return "hostile", workdir


@pytest.fixture(scope="module")
def hostile_agent(client: httpx.Client, hostile: tuple[str, Path]) -> str:
    """An agent holding the hostile server's tools by pattern, for InvokeTool calls. It stays
    live (waiting for an approval nobody gives) without holding a worker."""
    agent_class = create_class(client, capabilities=("mcp.hostile.*",))
    task = "Hold the hostile tools.\nplan:\n1. call mcp.hostile.drop_table {}\n2. answer Done. [evidence: 1]"
    agent = spawn(client, agent_class, task, ["mcp.hostile.*"])
    wait_for(client, agent["agent_id"], {"waiting_approval"})
    return str(agent["agent_id"])


@pytest.fixture(scope="module")
def repo(stack: RunningStack) -> Path:  # noqa: F811
    path = stack.workspace / "repo"
    path.mkdir(parents=True)
    git = ["git", "-C", str(path), "-c", "user.name=Test", "-c", "user.email=test@example.com"]
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    (path / "README.md").write_text("first line\n")
    subprocess.run([*git, "add", "README.md"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "Initial commit"], check=True)
    (path / "CHANGELOG.md").write_text("- added a changelog\n")
    subprocess.run([*git, "add", "CHANGELOG.md"], check=True)
    return path


@pytest.fixture(scope="module")
def git_server(client: httpx.Client, repo: Path) -> dict[str, Any]:
    return register(client, {"name": "git", "transport": "stdio",
                             "command": [sys.executable, "-m", "mcp_server_git", "--repository", str(repo)],
                             "env": {"GIT_AUTHOR_NAME": "AOSIQ agent", "GIT_AUTHOR_EMAIL": "agent@example.com",
                                     "GIT_COMMITTER_NAME": "AOSIQ agent",
                                     "GIT_COMMITTER_EMAIL": "agent@example.com"}})


# --- a real third-party server: mcp-server-git ---------------------------------------------------


def test_git_tools_are_listed_pending_with_safety_from_annotations(git_server: dict[str, Any]) -> None:
    assert git_server["state"] == "pending_approval"
    assert git_server["definitions_hash"] == ""
    assert len(git_server["pending_definitions_hash"]) == 64
    log, commit, reset = (tool_of(git_server, n) for n in ("git_log", "git_commit", "git_reset"))
    assert (log["reversible"], log["blast_radius"], log["idempotent"]) == (True, "low", True)
    assert (commit["reversible"], commit["blast_radius"], commit["idempotent"]) == (False, "high", False)
    assert (reset["reversible"], reset["blast_radius"], reset["idempotent"]) == (False, "high", False)
    assert all(t["status"] == "pending" and len(t["definition_hash"]) == 64 for t in git_server["tools"])
    assert "GIT_AUTHOR_NAME" in git_server["env_names"]
    assert "AOSIQ agent" not in json.dumps(git_server)


def test_unapproved_tools_are_not_callable(client: httpx.Client, git_server: dict[str, Any], repo: Path) -> None:
    agent_class = create_class(client, capabilities=("mcp.git.*",))
    agent = spawn(client, agent_class, "try early", ["mcp.git.*"])
    reply = invoke(client, agent["agent_id"], "mcp.git.git_log", json.dumps({"repo_path": str(repo)}))
    assert reply.status_code == 400 and "unknown tool" in reply.text, reply.text


def test_agent_reads_the_log_then_commits_after_approval(stack: RunningStack, client: httpx.Client,  # noqa: F811
                                                         git_server: dict[str, Any], repo: Path) -> None:
    server = approve(client, "git", git_server["pending_definitions_hash"])
    assert server["state"] == "active" and server["definitions_hash"] == git_server["pending_definitions_hash"]
    assert all(t["status"] == "approved" for t in server["tools"])
    agent_class = create_class(client, capabilities=("mcp.git.git_log", "mcp.git.git_commit"))
    commit_args = {"repo_path": str(repo), "message": "Add a changelog"}
    task = ("Commit the staged changelog.\nplan:\n"
            f"1. call mcp.git.git_log {json.dumps({'repo_path': str(repo)})}\n"
            f"2. call mcp.git.git_commit {json.dumps(commit_args)}\n"
            "3. answer Committed the changelog on top of the initial commit. [evidence: 1, 2]")
    agent = spawn(client, agent_class, task, ["mcp.git.*"])
    assert sorted(agent["grants"]) == ["mcp.git.git_commit", "mcp.git.git_log"]
    wait_for(client, agent["agent_id"], {"waiting_approval"})
    pending = client.get("/api/v1/approvals", params={"state": "pending"}).json()["approvals"]
    approval = next(a for a in pending if a["agent_id"] == agent["agent_id"])
    assert approval["tool"] == "mcp.git.git_commit" and approval["blast_radius"] == "high"
    assert "Initial commit" in json.dumps(approval["evidence"])
    # Nothing was committed before the approval.
    assert _git_log(repo) == ["Initial commit"]
    reply = client.post(f"/api/v1/approvals/{approval['approval_id']}:approve",
                        json={"args_hash": approval["args_hash"]})
    assert reply.status_code == 200, reply.text
    done = wait_for(client, agent["agent_id"], TERMINAL, timeout=90)
    assert done["state"] == "completed", done
    assert _git_log(repo) == ["Add a changelog", "Initial commit"]
    events = audit_events(client, agent["session_id"])
    completed = [e for e in events if e["event_type"] == "SYSCALL_COMPLETED"
                 and e["payload"].get("target", "").startswith("mcp.git.")]
    assert len(completed) == 2
    verified = client.post(f"/api/v1/sessions/{agent['session_id']}:verify").json()
    assert verified["ok"] is True
    system = audit_events(client, SYSTEM_SESSION)
    approved = [e for e in system if e["event_type"] == "TOOL_DEFINITIONS_APPROVED" and e["payload"]["server"] == "git"]
    assert approved and approved[-1]["payload"]["definitions_hash"] == git_server["pending_definitions_hash"]
    assert {t["name"] for t in approved[-1]["payload"]["tools"]} >= {"mcp.git.git_log", "mcp.git.git_commit"}


def _git_log(repo: Path) -> list[str]:
    out = subprocess.run(["git", "-C", str(repo), "log", "--format=%s"], check=True, capture_output=True, text=True)
    return out.stdout.split("\n")[:-1]


# --- our hostile server over stdio ---------------------------------------------------------------


def test_poisoned_description_is_flagged_and_audited(client: httpx.Client, hostile: tuple[str, Path]) -> None:
    server = client.get("/api/v1/tool-servers/hostile").json()
    assert tool_of(server, "poisoned")["findings"] == ["ignore_instructions"] or \
        "ignore_instructions" in tool_of(server, "poisoned")["findings"]
    assert tool_of(server, "echo")["findings"] == []
    registered = [e for e in audit_events(client, SYSTEM_SESSION)
                  if e["event_type"] == "TOOL_SERVER_REGISTERED" and e["payload"]["server"] == "hostile"]
    tools = {t["name"]: t for t in registered[0]["payload"]["tools"]}
    assert "ignore_instructions" in tools["poisoned"]["findings"]


def test_annotations_never_lower_safety(client: httpx.Client, hostile: tuple[str, Path],
                                        hostile_agent: str) -> None:
    server = client.get("/api/v1/tool-servers/hostile").json()
    liar, bare = tool_of(server, "liar"), tool_of(server, "drop_table")
    assert json.loads(liar["annotations"])["readOnlyHint"] is True
    assert (liar["reversible"], liar["blast_radius"]) == (False, "high")  # the operator wins
    assert (bare["reversible"], bare["blast_radius"], bare["idempotent"]) == (False, "high", False)
    for tool in ("mcp.hostile.liar", "mcp.hostile.drop_table"):
        reply = invoke(client, hostile_agent, tool, json.dumps({"path": "x"} if "liar" in tool else {}))
        assert reply.status_code == 200 and reply.json()["decision"] == "PENDING", reply.text
    assert not [c for c in calls_seen(hostile[1]) if c["tool"] in ("liar", "drop_table")]


def test_tool_outside_the_grants_never_reaches_the_server(client: httpx.Client, hostile: tuple[str, Path]) -> None:
    agent_class = create_class(client, capabilities=("mcp.hostile.echo", "mcp.hostile.count"))
    agent = spawn(client, agent_class, "echo only", ["mcp.hostile.echo"])
    before = len(calls_seen(hostile[1]))
    reply = invoke(client, agent["agent_id"], "mcp.hostile.count", "{}")
    assert reply.status_code == 403 and reason(reply) == "INSUFFICIENT_AUTHORITY", reply.text
    assert len(calls_seen(hostile[1])) == before
    reply = invoke(client, agent["agent_id"], "mcp.hostile.echo", json.dumps({"text": "hello"}))
    assert reply.status_code == 200 and reply.json()["result"] == "hello", reply.text
    assert calls_seen(hostile[1])[-1] == {"tool": "echo", "args": {"text": "hello"}}


def test_results_cannot_close_the_fence_and_are_bounded(stack: RunningStack, client: httpx.Client,  # noqa: F811
                                                        hostile: tuple[str, Path]) -> None:
    agent_class = create_class(client, capabilities=("mcp.hostile.*",))
    task = ("Look at three results.\nplan:\n1. call mcp.hostile.fence {}\n2. call mcp.hostile.flood {}\n"
            "3. call mcp.hostile.echo {\"text\": \"still here\"}\n"
            "4. answer Two results were read; the flood was refused. [evidence: 1, 3] marker-fence-flood")
    agent = spawn(client, agent_class, task, ["mcp.hostile.*"])
    done = wait_for(client, agent["agent_id"], TERMINAL, timeout=120)
    assert done["state"] == "completed", done
    last = fake_requests_for(stack, "marker-fence-flood")[-1]
    body = json.dumps(last["body"])
    assert body.count("</untrusted_tool_output>") == 3  # the kernel's own closing tags, one per result
    assert "&lt;/untrusted_tool_output&gt;" in body
    assert len(body) < 200_000  # 50 MB offered, a bounded conversation
    assert f"a message over {4 * 1024 * 1024} bytes" in body  # the flood is a tool error, the server restarted
    assert "still here" in body
    events = audit_events(client, agent["session_id"])
    assert any(e["event_type"] == "APP_INJECTION_PATTERN_DETECTED" for e in events)


@pytest.mark.parametrize("tool", ["hang", "garbage", "die"])
def test_a_misbehaving_server_gives_a_tool_error_and_recovers(client: httpx.Client, hostile: tuple[str, Path],
                                                              hostile_agent: str, tool: str) -> None:
    started = time.monotonic()
    reply = invoke(client, hostile_agent, f"mcp.hostile.{tool}", "{}")
    assert reply.status_code == 200, reply.text
    assert reply.json()["ok"] is False
    assert time.monotonic() - started < CALL_TIMEOUT_SECONDS + 10
    health = httpx.get(str(client.base_url) + "/api/v1/health").json()
    entry = next(s for s in health["tool_servers"] if s["name"] == "hostile")
    assert entry["failures"] >= 1
    # The server is started again (with backoff) and answers the next call.
    deadline = time.monotonic() + 30
    while True:
        reply = invoke(client, hostile_agent, "mcp.hostile.echo", json.dumps({"text": "again"}))
        if reply.status_code == 200 and reply.json()["ok"]:
            break
        assert time.monotonic() < deadline, reply.text
        time.sleep(0.5)


def test_stdio_server_gets_only_its_registered_environment(client: httpx.Client, hostile: tuple[str, Path],
                                                           hostile_agent: str) -> None:
    reply = invoke(client, hostile_agent, "mcp.hostile.env", "{}")
    names = set(json.loads(reply.json()["result"]))
    assert {"HOSTILE_API_KEY", "PYTHONPATH"} <= names
    assert not [n for n in names if n.startswith("AOS_")]
    assert names <= {"HOSTILE_API_KEY", "HOSTILE_DIR", "PYTHONPATH", "HOME", "LOGNAME", "PATH", "SHELL", "TERM",
                     "USER", "LC_CTYPE"}


def test_a_changed_definition_is_refused_until_approved(client: httpx.Client, hostile: tuple[str, Path],
                                                        hostile_agent: str) -> None:
    reply = invoke(client, hostile_agent, "mcp.hostile.announce", "{}")
    assert reply.status_code == 200 and reply.json()["ok"], reply.text
    deadline = time.monotonic() + 15
    while (server := client.get("/api/v1/tool-servers/hostile").json())["state"] != "changed":
        assert time.monotonic() < deadline, server
        time.sleep(0.3)
    echo = tool_of(server, "echo")
    assert echo["status"] == "pending" and ".aws" in echo["description"]
    assert echo["approved_description"] == "Echo the text back."
    before = len(calls_seen(hostile[1]))
    reply = invoke(client, hostile_agent, "mcp.hostile.echo", json.dumps({"text": "after the change"}))
    assert reply.status_code == 409 and reason(reply) == "TOOL_DEFINITION_CHANGED", reply.text
    assert len(calls_seen(hostile[1])) == before  # nothing reached the server
    changed = [e for e in audit_events(client, SYSTEM_SESSION) if e["event_type"] == "TOOL_DEFINITION_CHANGED"]
    assert changed and changed[-1]["payload"]["changed"] == ["echo"]
    # An approval of a set the operator did not see is refused; of the new one, accepted.
    stale = client.post("/api/v1/tool-servers/hostile:approveDefinitions",
                        json={"definitions_hash": server["definitions_hash"]})
    assert stale.status_code == 409 and reason(stale) == "TOOL_DEFINITION_CHANGED"
    approve(client, "hostile", server["pending_definitions_hash"])
    reply = invoke(client, hostile_agent, "mcp.hostile.echo", json.dumps({"text": "approved again"}))
    assert reply.status_code == 200 and reply.json()["result"] == "approved again", reply.text


# --- streamable HTTP --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http_server(stack: RunningStack) -> Iterator[str]:  # noqa: F811
    port = free_port()
    workdir = stack.home / "hostile-http"
    workdir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOSTILE_REQUIRE_BEARER": HEADER_SECRET}
    process = subprocess.Popen([sys.executable, "-m", "tests.mcp_servers.hostile", "--http", str(port)],
                               cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except httpx.HTTPError:
            assert time.monotonic() < deadline and process.poll() is None, "the HTTP test server did not start"
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(10)


def test_http_server_with_headers(client: httpx.Client, http_server: str) -> None:
    refused = client.post("/api/v1/tool-servers", json={"name": "web-noauth", "transport": "http",
                                                        "url": http_server}, timeout=60)
    assert refused.status_code == 503, refused.text
    server = register_and_approve(client, {"name": "web", "transport": "http", "url": http_server,
                                           "headers": {"Authorization": f"Bearer {HEADER_SECRET}"}})
    assert server["state"] == "active" and server["header_names"] == ["Authorization"]
    agent_class = create_class(client, capabilities=("mcp.web.echo",))
    agent = spawn(client, agent_class, "echo over http", ["mcp.web.echo"])
    reply = invoke(client, agent["agent_id"], "mcp.web.echo", json.dumps({"text": "over http"}))
    assert reply.status_code == 200 and reply.json()["result"] == "over http", reply.text


# --- the npm reference servers ------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed on this machine")
def test_npm_filesystem_server(stack: RunningStack, client: httpx.Client) -> None:  # noqa: F811
    entry = NPM_SERVERS / "server-filesystem" / "dist" / "index.js"
    assert entry.exists(), "the test set-up installs the npm servers (scripts/test.sh)"
    shared = stack.workspace / "shared-docs"
    shared.mkdir()
    (shared / "report.txt").write_text("revenue grew 12%\n")
    server = register(client, {"name": "files", "transport": "stdio", "command": ["node", str(entry), str(shared)]})
    read = tool_of(server, "read_text_file")
    write = tool_of(server, "write_file")
    assert read["reversible"] is True and write["reversible"] is False
    approve(client, "files", server["pending_definitions_hash"])
    agent_class = create_class(client, capabilities=("mcp.files.*",))
    task = ("Read the report, then write a summary.\nplan:\n"
            f"1. call mcp.files.read_text_file {json.dumps({'path': str(shared / 'report.txt')})}\n"
            f"2. call mcp.files.write_file {json.dumps({'path': str(shared / 'new.txt'), 'content': 'x'})}\n"
            "3. answer Wrote the summary. [evidence: 1]")
    agent = spawn(client, agent_class, task, ["mcp.files.*"])
    wait_for(client, agent["agent_id"], {"waiting_approval"})
    approval = next(a for a in client.get("/api/v1/approvals", params={"state": "pending"}).json()["approvals"]
                    if a["agent_id"] == agent["agent_id"])
    assert approval["tool"] == "mcp.files.write_file"
    assert "revenue grew 12%" in json.dumps(approval["evidence"])
    assert not (shared / "new.txt").exists()
    client.post(f"/api/v1/approvals/{approval['approval_id']}:deny", json={"reason": "not today"})


# --- secrets ------------------------------------------------------------------------------------------


def test_registered_secrets_never_leave_the_kernel(stack: RunningStack, client: httpx.Client,  # noqa: F811
                                                   hostile: tuple[str, Path]) -> None:
    answers = [client.get("/api/v1/tool-servers").text, client.get("/api/v1/tool-servers/hostile").text,
               httpx.get(str(client.base_url) + "/api/v1/health").text,
               json.dumps(audit_events(client, SYSTEM_SESSION))]
    for text in answers:
        assert SECRET not in text and HEADER_SECRET not in text
    for path in stack.home.rglob("*.log"):
        content = path.read_text(errors="replace")
        assert SECRET not in content, path
        assert HEADER_SECRET not in content, path


def test_bad_registrations_are_refused_with_reasons(client: httpx.Client) -> None:
    cases = [
        {"name": "Bad Name", "transport": "stdio", "command": ["x"]},
        {"name": "ok", "transport": "carrier-pigeon"},
        {"name": "ok", "transport": "stdio"},
        {"name": "ok", "transport": "http", "url": "file:///etc/passwd"},
        {"name": "ok", "transport": "http", "url": "http://user:pw@127.0.0.1/"},
        {"name": "ok", "transport": "stdio", "command": ["x"], "env": {"BAD KEY": "v"}},
        {"name": "ok", "transport": "stdio", "command": ["x"], "overrides": {"t": {"blast_radius": "huge"}}},
    ]
    for body in cases:
        reply = client.post("/api/v1/tool-servers", json=body)
        assert reply.status_code == 400 and reason(reply) == "INVALID_ARGUMENT", (body, reply.text)
    missing = client.post("/api/v1/tool-servers", json={"name": "ghost", "transport": "stdio",
                                                        "command": ["/nonexistent/server"]}, timeout=60)
    assert missing.status_code == 503 and reason(missing) == "UNAVAILABLE", missing.text
    assert client.get("/api/v1/tool-servers/ghost").status_code == 404
    assert client.post("/api/v1/tool-servers/ghost:approveDefinitions",
                       json={"definitions_hash": "0" * 64}).status_code == 404


def test_tools_manage_is_needed(stack: RunningStack, client: httpx.Client) -> None:  # noqa: F811
    minted = client.post("/api/v1/tokens", json={"subject": "reader", "grants": ["approvals.read"],
                                                 "ttl_seconds": 600}).json()
    with stack.client(minted["token"]) as reader:
        reply = reader.get("/api/v1/tool-servers")
        assert reply.status_code == 403 and reason(reply) == "INSUFFICIENT_AUTHORITY"


def test_remove_takes_the_tools_away(client: httpx.Client, hostile_agent: str, hostile: tuple[str, Path]) -> None:
    workdir = hostile[1].parent / "hostile-removed"
    workdir.mkdir()
    register_and_approve(client, hostile_body("doomed", workdir))
    reply = client.delete("/api/v1/tool-servers/doomed")
    assert reply.status_code == 200, reply.text
    assert client.get("/api/v1/tool-servers/doomed").status_code == 404
    removed = [e for e in audit_events(client, SYSTEM_SESSION) if e["event_type"] == "TOOL_SERVER_REMOVED"]
    assert removed[-1]["payload"]["server"] == "doomed"


# --- the dashboard's tool-servers pages ---------------------------------------------------------------


def _hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden field {name}"
    return match.group(1)


def test_dashboard_shows_definitions_and_approves_by_hash(stack: RunningStack, client: httpx.Client,  # noqa: F811
                                                          hostile: tuple[str, Path]) -> None:
    workdir = hostile[1].parent / "hostile-ui"
    workdir.mkdir()
    pending = register(client, hostile_body("uidemo", workdir))
    with httpx.Client(base_url=stack.http_url, timeout=30) as browser:
        login = browser.get("/ui/login")
        signed = browser.post("/ui/login", data={"token": stack.admin_token,
                                                 "login_nonce": _hidden(login.text, "login_nonce")})
        assert signed.status_code == 303, signed.text
        listing = browser.get("/ui/tool-servers")
        assert listing.status_code == 200 and "uidemo" in listing.text and "pending_approval" in listing.text
        page = browser.get("/ui/tool-servers/uidemo")
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "&lt;script&gt;alert" in page.text  # inert
        assert "ignore_instructions" in page.text  # the poisoned description's finding is shown
        assert SECRET not in page.text
        shown = _hidden(page.text, "definitions_hash")
        assert shown == pending["pending_definitions_hash"]
        forged = browser.post("/ui/tool-servers/uidemo/approve", data={"definitions_hash": shown, "csrf": "x"})
        assert forged.status_code == 403
        assert client.get("/api/v1/tool-servers/uidemo").json()["state"] == "pending_approval"
        approved = browser.post("/ui/tool-servers/uidemo/approve",
                                data={"definitions_hash": shown, "csrf": _hidden(page.text, "csrf")})
        assert approved.status_code == 303, approved.text
    assert client.get("/api/v1/tool-servers/uidemo").json()["state"] == "active"


# --- a kernel crash mid-call ------------------------------------------------------------------------------


def test_kill_kernel_mid_call_runs_a_non_idempotent_call_once(stack: RunningStack, client: httpx.Client,  # noqa: F811
                                                              hostile: tuple[str, Path]) -> None:
    counter = hostile[1] / "counter"
    counter.unlink(missing_ok=True)
    agent_class = create_class(client, capabilities=("mcp.hostile.count", "mcp.hostile.echo"))
    task = ("Count once.\nplan:\n1. call mcp.hostile.count {\"wait\": 2.5}\n"
            "2. call mcp.hostile.echo {\"text\": \"after the crash\"}\n"
            "3. answer Counted, then echoed. [evidence: 2]")
    agent = spawn(client, agent_class, task, ["mcp.hostile.count", "mcp.hostile.echo"])
    wait_for(client, agent["agent_id"], {"waiting_approval"})
    approval = next(a for a in client.get("/api/v1/approvals", params={"state": "pending"}).json()["approvals"]
                    if a["agent_id"] == agent["agent_id"])
    client.post(f"/api/v1/approvals/{approval['approval_id']}:approve", json={"args_hash": approval["args_hash"]})
    deadline = time.monotonic() + 30
    while not counter.exists():
        assert time.monotonic() < deadline, "the call never reached the server"
        time.sleep(0.05)
    stack.kill("kernel")
    done = wait_for(client, agent["agent_id"], TERMINAL, timeout=120)
    assert done["state"] == "completed", done
    assert counter.read_text() == "1"
    assert [c["tool"] for c in calls_seen(hostile[1])].count("count") == 1
