"""The dashboard in a real browser (Debian's chromium driven by playwright), against the fake backends.

What only a browser can show: the CSP leaves htmx working (live updates arrive)
while hostile tool output stays inert text (no dialog opens), the session cookie
is invisible to page script, and the Approve button posts what the page showed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from aosiq.launcher import free_port
from tests.integration.test_dashboard_http import (
    APPROVAL_ID,
    XSS,
    FakeBackends,
    FakeState,
    gateway_like_app,
    make_approval,
)

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")


@pytest.fixture(scope="module")
def dashboard_url() -> Iterator[tuple[str, FakeState]]:
    with FakeBackends() as fakes:
        port = free_port()
        app = gateway_like_app(fakes.address, fakes.address, fakes.address)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            assert time.monotonic() < deadline, "dashboard server did not start"
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}", fakes.state
        finally:
            server.should_exit = True
            thread.join(15)


def test_operator_reviews_and_approves_in_a_browser(dashboard_url: tuple[str, FakeState]):
    sync_api = pytest.importorskip("playwright.sync_api")
    url, state = dashboard_url
    dialogs: list[str] = []
    console_errors: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: Any) -> None:
        if message.type == "error":
            console_errors.append(message.text)

    with sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("dialog", on_dialog)
            page.on("console", on_console)
            page.set_default_timeout(15_000)

            page.goto(f"{url}/ui/")
            assert page.url == f"{url}/ui/login"
            page.fill("#token", state.token)
            page.click("button[type=submit]")
            page.wait_for_url(f"{url}/ui/")
            assert state.token not in page.url
            assert "aos_ui_session" not in page.evaluate("document.cookie")  # HttpOnly

            sync_api.expect(page.locator(f"#pending a[href='/ui/approvals/{APPROVAL_ID}']")).to_be_visible()
            # A request raised after the page loaded shows up through htmx polling, without a reload.
            late = make_approval("appr-late-9", {"path": "notes/late.txt"})
            state.approvals[late.approval_id] = late
            sync_api.expect(page.locator("#pending a[href='/ui/approvals/appr-late-9']")).to_be_visible(timeout=10_000)

            page.click(f"a[href='/ui/approvals/{APPROVAL_ID}']")
            evidence = page.locator(".untrusted pre.evidence").first
            assert XSS in evidence.inner_text()  # shown literally, as text
            assert page.locator(".untrusted img, .untrusted script").count() == 0
            assert "notes/old.txt" in page.locator("#args").inner_text()

            page.click("#approve")
            sync_api.expect(page.locator("#approval-state")).to_have_text("approved")
            sync_api.expect(page.locator("#notice-banner")).to_be_visible()
            assert state.approve_calls == [(APPROVAL_ID, state.approvals[APPROVAL_ID].args_hash)]
            # The agent finishes later; the page follows it by polling its state.
            sync_api.expect(page.locator("#agent-state-value")).to_have_text("running")
            state.agent_state = "completed"
            sync_api.expect(page.locator("#agent-state-value")).to_have_text("completed", timeout=10_000)

            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        finally:
            browser.close()
    assert dialogs == [], f"script from tool output ran: {dialogs}"
    assert not [m for m in console_errors if "Content Security Policy" in m], console_errors
