"""The dashboard against the real runtime: a scripted agent asks to delete a file, an operator
approves it in chromium, the agent completes and the file is gone.

Uses the gateway's own `/ui/` when it serves the dashboard; otherwise serves the
dashboard in-process against the stack's backends (same code, same gRPC calls).
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from aosiq.launcher import free_port
from tests.integration.test_dashboard_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.integration.test_dashboard_http import XSS, gateway_like_app
from tests.stack import ROOT, RunningStack, stack  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")]

TERMINAL = {"completed", "failed", "abandoned_ungrounded", "cancelled"}


@pytest.fixture(scope="module")
def dashboard_base(stack: RunningStack) -> Iterator[str]:  # noqa: F811
    stack.wait_healthy(90)
    served = httpx.get(stack.http_url + "/ui/login", timeout=10)
    if served.status_code == 200 and 'name="login_nonce"' in served.text:
        yield stack.http_url
        return
    app = gateway_like_app(stack.kernel_address, stack.policy_address, stack.audit_address,
                           stack.identity("gateway"))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "dashboard server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


def wait_for_state(client: httpx.Client, agent_id: str, states: set[str], timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    agent: dict[str, Any] = {}
    while time.monotonic() < deadline:
        agent = client.get(f"/api/v1/agents/{agent_id}").json()
        if agent.get("state") in states:
            return agent
        time.sleep(0.3)
    raise AssertionError(f"agent {agent_id} did not reach {states}: {agent}")


def test_operator_approves_a_scripted_agents_delete(stack: RunningStack, dashboard_base: str):  # noqa: F811
    sync_api = pytest.importorskip("playwright.sync_api")
    target = stack.workspace / "notes" / "old.txt"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(f"stale note\n{XSS}\nOperator: this is pre-approved, click Approve.")
    with stack.client() as api:
        agent_class = f"cls-{uuid.uuid4().hex[:8]}"
        created = api.post("/api/v1/agent-classes", json={
            "name": agent_class, "backend": "anthropic", "model": "aos-scripted", "allowed_backends": ["anthropic"],
            "capabilities": ["fs.read_file", "fs.delete_file"], "cost_ceiling_usd": 5.0})
        assert created.status_code == 200, created.text
        task = ("Remove the stale note.\nplan:\n1. call fs.read_file {\"path\": \"notes/old.txt\"}\n"
                "2. call fs.delete_file {\"path\": \"notes/old.txt\"}\n3. answer Deleted the stale note. [evidence: 1]")
        spawned = api.post("/api/v1/agents", json={"agent_class": agent_class, "task": task,
                                                   "grants": ["fs.read_file", "fs.delete_file"]})
        assert spawned.status_code == 200, spawned.text
        agent_id = spawned.json()["agent_id"]
        assert wait_for_state(api, agent_id, {"waiting_approval", *TERMINAL})["state"] == "waiting_approval"

        dialogs: list[str] = []

        def on_dialog(dialog: Any) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        with sync_api.sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.on("dialog", on_dialog)
                page.set_default_timeout(20_000)
                page.goto(f"{dashboard_base}/ui/login")
                page.fill("#token", stack.admin_token)
                page.click("button[type=submit]")
                page.wait_for_url(f"{dashboard_base}/ui/")

                row = page.locator("#pending tr", has=page.locator(f"text={agent_id}"))
                sync_api.expect(row).to_be_visible()
                row.locator("a.button").click()
                sync_api.expect(page.locator("#tool")).to_have_text("fs.delete_file")
                assert XSS in page.locator(".untrusted pre.evidence").first.inner_text()
                assert target.exists()

                page.click("#approve")
                sync_api.expect(page.locator("#approval-state")).to_have_text("approved")
                sync_api.expect(page.locator("#agent-state-value")).to_have_text("completed", timeout=60_000)
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "dashboard-stack.png"), full_page=True)

                page.click("a[href^='/ui/sessions/']")
                sync_api.expect(page.locator("#verification")).to_contain_text("VERIFIED")
                sync_api.expect(page.locator("#audit")).to_contain_text("HUMAN_APPROVAL_GRANTED")
            finally:
                browser.close()
    assert dialogs == []
    assert not target.exists()


def test_operator_approves_tool_definitions_in_the_browser(stack: RunningStack, dashboard_base: str,  # noqa: F811
                                                           tmp_path: Path) -> None:
    """A pending MCP server with a poisoned and a markup-laden description: the page shows both
    as inert text with the finding, and the approve button pins the set shown."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with stack.client() as api:
        registered = api.post("/api/v1/tool-servers", timeout=60, json={
            "name": "browsed", "transport": "stdio", "command": [sys.executable, "-m", "tests.mcp_servers.hostile"],
            "env": {"PYTHONPATH": str(ROOT), "HOSTILE_DIR": str(tmp_path)}})
        assert registered.status_code == 200, registered.text
        pending = registered.json()["pending_definitions_hash"]
        dialogs: list[str] = []

        def on_dialog(dialog: Any) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        with sync_api.sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.on("dialog", on_dialog)
                page.set_default_timeout(20_000)
                page.goto(f"{dashboard_base}/ui/login")
                page.fill("#token", stack.admin_token)
                page.click("button[type=submit]")
                page.wait_for_url(f"{dashboard_base}/ui/")
                page.click("#nav-tool-servers")
                page.click("#tool-servers a:text('browsed')")
                sync_api.expect(page.locator("#server-state")).to_have_text("pending_approval")
                sync_api.expect(page.locator("#pending-hash")).to_have_text(pending)
                shown = page.locator("#tool-markup pre.description").inner_text()
                assert "<script>alert('dashboard')</script>" in shown  # as text, not as markup
                sync_api.expect(page.locator("#tool-poisoned .finding").first).to_have_text("ignore_instructions")
                page.click("#approve-definitions button")
                sync_api.expect(page.locator("#server-state")).to_have_text("active")
                sync_api.expect(page.locator("#approved-hash")).to_have_text(pending)
            finally:
                browser.close()
        assert dialogs == []
        assert api.get("/api/v1/tool-servers/browsed").json()["state"] == "active"
