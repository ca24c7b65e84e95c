"""The cutout web app in a real browser (Debian's Chromium, driven by Playwright) against a real server.

The server runs real cutout jobs on its embedded worker processes over the demo maps. A person's path:
fill the form, submit, watch the job reach COMPLETED without reloading, open a preview, download a file
and a bundle, abort and delete; a bad value gets the server's message next to its field. Each test also
checks the page logs no console error, passes axe-core's accessibility rules and fits a laptop screen.
Screenshots and downloads are saved under the printed artifacts folder.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import RunningServer
from tests.webapp.conftest import VIEWPORT, WEBAPP

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
expect = sync_api.expect

#: Three positions inside the demo field ra0hdec-59.75 (5 degrees wide, centred on ra 0, dec -59.75).
THREE_POSITIONS = "name,ra,dec\nsrcA,0.5,-59.5\nsrcB,359.5,-60.0\nsrcC,0.0,-59.75\n"
#: Two inside, one where no demo map lies.
WITH_ONE_OUTSIDE = "name,ra,dec\nin1,0.3,-59.6\nin2,359.7,-59.9\nfar,180.0,10.0\n"
#: Long enough for the embedded workers to start a job, import astropy and cut (a cold pool: seconds).
JOB_TIMEOUT_MS = 90_000

AXE = WEBAPP / "node_modules" / "axe-core" / "axe.min.js"
#: Records every text the job's status shows, so a test can tell it changed live.
WATCH_STATUS = """() => {
  window.__phases = [];
  const seen = () => {
    const el = document.querySelector('[data-testid="job-status"] .phase');
    const text = el ? el.textContent : null;
    if (text && window.__phases[window.__phases.length - 1] !== text) window.__phases.push(text);
  };
  new MutationObserver(seen).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


class ConsoleLog:
    """The page's console errors and uncaught exceptions."""

    def __init__(self, page: Any, server: RunningServer) -> None:
        self.errors: list[str] = []
        self.origin = server.base_url + "/"
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _console(self, message: Any) -> None:
        where = message.location.get("url", "")
        # The app's own pages only (not the identity provider's login form, which has no favicon).
        if message.type == "error" and (not where or where.startswith(self.origin)):
            self.errors.append(f"{message.text} at {where}")

    def unexpected(self) -> list[str]:
        return list(self.errors)


def new_page(context: Any, server: RunningServer) -> Any:
    """A page of ``context`` that records its console errors (``page.console``)."""
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.console = ConsoleLog(page, server)
    return page


@pytest.fixture
def page(browser: Any, webapp_server: RunningServer, artifacts: Path) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True, base_url=webapp_server.base_url)
    yield new_page(context, webapp_server)
    context.close()


def shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def check_page(page: Any) -> None:
    """No console error, no axe-core violation (labels, contrast, ARIA), no sideways scrolling at 1366 px."""
    assert page.console.unexpected() == []
    # Evaluated over the DevTools protocol: the page's CSP (script-src 'self') refuses an injected <script>.
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate(AXE.read_text() + "\n;undefined")
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => `${v.id}: ${v.help} (${v.nodes.map(n => n.target.join(' ')).join('; ')})`)"
    )
    assert violations == []
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def open_app(page: Any) -> None:
    page.goto("/app/cutout/")
    expect(page.get_by_role("button", name="Submit job")).to_be_visible()
    page.evaluate("window.__notReloaded = true")


def submit(page: Any, positions: str, **choices: str) -> str:
    """Fill the form and submit; returns the new job's id (the app has moved to its page)."""
    page.get_by_label("Positions table (CSV)").fill(positions)
    page.get_by_role("checkbox", name="150").check()
    for label, value in choices.items():
        page.get_by_label(label).select_option(value)
    page.evaluate(WATCH_STATUS)
    page.get_by_role("button", name="Submit job").click()
    page.wait_for_url(re.compile(r"/app/cutout/jobs/[^/]+$"))
    return page.url.rsplit("/", 1)[-1]


def wait_completed(page: Any) -> list[str]:
    expect(page.get_by_test_id("job-status")).to_contain_text("COMPLETED", timeout=JOB_TIMEOUT_MS)
    assert page.evaluate("window.__notReloaded") is True, "the page was reloaded"
    phases: list[str] = page.evaluate("window.__phases")
    return phases


def test_submit_watch_it_complete_open_a_preview_and_download(page: Any, artifacts: Path) -> None:
    open_app(page)
    check_page(page)
    shot(page, artifacts, "01-form")
    job_id = submit(page, THREE_POSITIONS, Format="png")
    phases = wait_completed(page)
    # Seen unfinished first, then COMPLETED: the page followed the job live, over the WebSocket.
    assert phases[0] in ("PENDING", "QUEUED", "EXECUTING") and phases[-1] == "COMPLETED", phases
    expect(page.get_by_text("Live updates.", exact=True)).to_be_visible()

    thumbs = page.get_by_role("button", name=re.compile("^Open preview"))
    expect(thumbs).to_have_count(3)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.thumb img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    rows = page.get_by_test_id("manifest").locator("tbody tr")
    expect(rows).to_have_count(3)
    for name in ("srcA", "srcB", "srcC"):
        expect(rows.filter(has_text=name).locator(".status")).to_have_text(re.compile(r"^(ok|partial)$"))
    shot(page, artifacts, "02-job-completed")

    # A preview opens from the keyboard, shows the full image, and Escape gives the focus back.
    thumbs.first.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("srcA")
    large = dialog.get_by_role("img")
    expect(large).to_be_visible()
    assert large.evaluate("img => img.complete && img.naturalWidth > 0")
    shot(page, artifacts, "03-preview")
    check_page(page)
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(thumbs.first).to_be_focused()

    with page.expect_download() as download_info:
        page.locator(".downloads").get_by_role("link", name=re.compile(r"^srcA_.*\.png$")).click()
    download = download_info.value
    saved = artifacts / download.suggested_filename
    download.save_as(str(saved))
    assert saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Back to the list, without a reload: the job is there, COMPLETED.
    page.get_by_role("link", name="← My jobs").click()
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    expect(row).to_contain_text("COMPLETED")
    assert page.evaluate("window.__notReloaded") is True
    shot(page, artifacts, "04-my-jobs")
    check_page(page)


def test_a_bundle_job_with_a_position_outside_the_maps(page: Any, artifacts: Path) -> None:
    open_app(page)
    submit(page, WITH_ONE_OUTSIDE, Format="fits", Bundle="zip")
    wait_completed(page)
    rows = page.get_by_test_id("manifest").locator("tbody tr")
    expect(rows.filter(has_text="far").locator(".status")).to_have_text("outside")
    expect(rows.filter(has_text="in1").locator(".status")).to_have_text(re.compile(r"^(ok|partial)$"))
    expect(page.get_by_test_id("no-previews")).to_contain_text("in the bundle")
    shot(page, artifacts, "05-bundle-job")

    with page.expect_download() as download_info:
        page.get_by_test_id("bundle-link").click()
    saved = artifacts / "bundle.zip"
    download_info.value.save_as(str(saved))
    with zipfile.ZipFile(saved) as bundle:
        names = bundle.namelist()
    assert "cutouts/manifest.json" in names
    assert sum(1 for n in names if n.endswith(".fits")) == 2, names
    check_page(page)


def test_a_bad_value_gets_the_server_message_by_its_field(page: Any, artifacts: Path) -> None:
    open_app(page)
    page.get_by_label("Positions table (CSV)").fill(THREE_POSITIONS)
    size = page.get_by_label("Size (arcmin)")
    size.fill("0")
    page.get_by_role("button", name="Submit job").click()
    message = page.locator("#field-size-error")
    expect(message).to_contain_text("invalid parameter size")
    expect(size).to_have_attribute("aria-invalid", "true")
    expect(size).to_be_focused()
    shot(page, artifacts, "06-bad-size")

    size.fill("2")
    page.get_by_label("Positions table (CSV)").fill("name,x,y\na,1,2\n")
    page.get_by_role("button", name="Submit job").click()
    expect(page.locator("#field-positions-error")).to_contain_text("no ra or dec column")
    assert "/jobs/" not in page.url
    # A 400 is an answer, not a console error of the app's own making... but Chromium logs the failed
    # request; only that is allowed here.
    page.console.errors = [e for e in page.console.errors if "400 (Bad Request)" not in e]
    check_page(page)


def test_abort_then_delete(page: Any, webapp_server: RunningServer, artifacts: Path) -> None:
    # Created without PHASE=RUN, so it waits in PENDING for the abort, whatever the workers' speed.
    job_url = webapp_server.create_job("cutout", POS="CIRCLE 0 -59.75 0.05")
    job_id = job_url.rsplit("/", 1)[-1]
    page.goto(f"/app/cutout/jobs/{job_id}")
    status = page.get_by_test_id("job-status")
    expect(status).to_contain_text("PENDING")
    page.get_by_role("button", name="Abort job").click()
    expect(status).to_contain_text("ABORTED")
    expect(page.get_by_role("button", name="Abort job")).to_have_count(0)
    shot(page, artifacts, "07-aborted")

    page.get_by_role("button", name="Delete job…").click()
    page.get_by_role("button", name="Yes, delete this job").click()
    page.wait_for_url(re.compile(r"/app/cutout/$"))
    expect(page.get_by_role("heading", name="My jobs")).to_be_visible()
    expect(page.locator(f'tr[data-job-id="{job_id}"]')).to_have_count(0)
    assert httpx.get(job_url, headers={"Accept": "application/json"}).status_code == 404
    check_page(page)


def test_previews_and_statuses_through_signed_s3_urls(
    browser: Any, production_webapp_server: RunningServer, artifacts: Path
) -> None:
    """On the production backends a result is a 303 to a signed URL of the S3 server, another origin."""
    server = production_webapp_server
    context = browser.new_context(viewport=VIEWPORT, base_url=server.base_url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.console = ConsoleLog(page, server)
    open_app(page)
    submit(page, THREE_POSITIONS, Format="png")
    wait_completed(page)
    expect(page.get_by_role("button", name=re.compile("^Open preview"))).to_have_count(3)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.thumb img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    rows = page.get_by_test_id("manifest").locator("tbody tr")
    expect(rows).to_have_count(3)  # manifest.json fetched across the redirect (the S3 server allows CORS)
    shot(page, artifacts, "08-production-job")
    check_page(page)
    context.close()
