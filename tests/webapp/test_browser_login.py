"""The web app with login on: Keycloak's login form (the stand-in), the user's own jobs, logout.

alice opens the app, is sent to the login form and back, submits a job that completes, logs out and is
back at the login; bob then sees none of alice's jobs, and alice's job page, opened as a link before
logging in, comes back after the login as "does not exist" (another user's job is a 404).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from spt_api.auth.session import SESSION_COOKIE
from tests.support.server import RunningServer
from tests.webapp.conftest import VIEWPORT
from tests.webapp.test_browser import THREE_POSITIONS, check_page, new_page, shot, submit, wait_completed

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
expect = sync_api.expect


def log_in(page: Any, user: str) -> None:
    """At the stand-in's login form (Keycloak's kc-form-login): sign in, and be sent back."""
    expect(page.locator("#kc-form-login")).to_be_visible()
    page.fill("#username", user)
    page.fill("#password", f"{user}-pw")
    page.click("#kc-login")


def test_login_own_jobs_and_logout(browser: Any, auth_webapp_server: RunningServer, artifacts: Path) -> None:
    server = auth_webapp_server
    alice = browser.new_context(viewport=VIEWPORT, base_url=server.base_url)
    page = new_page(alice, server)
    page.goto("/app/cutout/")
    assert "/realms/spt/" in page.url  # sent to the login
    shot(page, artifacts, "10-login-form")
    log_in(page, "alice")
    page.wait_for_url(re.compile(r"/app/cutout/$"))
    expect(page.get_by_test_id("username")).to_have_text("alice")
    page.evaluate("window.__notReloaded = true")

    # A cookie-authenticated POST: the app sends the XSRF token, or the API would answer 403.
    job_id = submit(page, THREE_POSITIONS, Format="png")
    wait_completed(page)
    expect(page.get_by_text("Live updates.", exact=True)).to_be_visible()  # the WebSocket, cookie + _xsrf
    expect(page.get_by_role("button", name=re.compile("^Open preview"))).to_have_count(3)
    expect(page.locator(".job-times")).to_contain_text("alice")
    shot(page, artifacts, "11-alice-job")
    check_page(page)

    page.get_by_role("link", name="Log out").click()
    expect(page.locator("#kc-form-login")).to_be_visible()  # back at the login: the session is over
    assert SESSION_COOKIE not in {c["name"] for c in alice.cookies(server.base_url + "/app/cutout/")}
    alice.close()

    bob = browser.new_context(viewport=VIEWPORT, base_url=server.base_url)
    page = new_page(bob, server)
    page.goto(f"/app/cutout/jobs/{job_id}")  # a link to alice's job, opened by bob before he logs in
    log_in(page, "bob")
    page.wait_for_url(re.compile(rf"/app/cutout/jobs/{job_id}$"))  # back to the page he asked for
    expect(page.get_by_test_id("username")).to_have_text("bob")
    expect(page.get_by_text("This job does not exist")).to_be_visible()
    page.get_by_role("link", name="Back to my jobs").click()
    expect(page.get_by_text("No jobs yet.")).to_be_visible()
    expect(page.locator(f'tr[data-job-id="{job_id}"]')).to_have_count(0)
    shot(page, artifacts, "12-bob-jobs")
    # The job page's 404 for alice's job is the API's answer; Chromium logs it, and only that is allowed.
    page.console.errors = [e for e in page.console.errors if f"/jobs/{job_id}" not in e]
    check_page(page)
    bob.close()


def test_the_page_needs_a_login_its_files_do_not(auth_webapp_server: RunningServer, webapp_dist: Path) -> None:
    base = auth_webapp_server.base_url
    for path in ("/app/cutout/", "/app/cutout/jobs/abc?x=1"):
        response = httpx.get(base + path, headers={"Accept": "text/html"})
        assert response.status_code == 302
        assert response.headers["Location"] == "/account/login?" + urlencode({"next": path})
    asset = next((webapp_dist / "assets").glob("*.js")).name
    response = httpx.get(f"{base}/app/cutout/assets/{asset}")
    assert response.status_code == 200 and "javascript" in response.headers["Content-Type"]
    # A forged session cookie is no session: to the login too.
    response = httpx.get(base + "/app/cutout/", cookies={SESSION_COOKIE: "forged"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/account/login?")
