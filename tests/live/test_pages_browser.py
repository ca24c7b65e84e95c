"""The pages' live part in a real browser (Debian's Chromium, driven by Playwright): under the pages'
Content-Security-Policy, the job page follows its job over the WebSocket without a reload by the user,
the Run button works as a plain form, and the job list shows a new job and its phases as they change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.uws_helpers import job_id_of
from tests.conftest import embedded_settings
from tests.support.browser import CHROMIUM, chromium
from tests.support.server import RunningServer, serving

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"needs {CHROMIUM} (apt-get install chromium)")


@pytest.fixture(scope="module")
def page_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with serving(embedded_settings(tmp_path_factory.mktemp("pages"), embedded_pool_size=1)) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as browser:
        yield browser


def watch_console(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def test_the_job_page_follows_its_job_live(page_server: RunningServer, browser: Any, tmp_path: Path) -> None:
    url = page_server.create_job(message="<script>alert(1)</script>", delay=2, steps=2)
    page = browser.new_page()
    problems = watch_console(page)
    page.goto(url)
    expect = playwright.expect
    expect(page.locator("#phase")).to_have_text("PENDING")
    expect(page.locator("#live")).to_have_text("Live: this page follows the job.")
    page.click("text=Run")  # a plain form: POST .../phase, 303 back to the page
    expect(page.locator("#phase")).to_have_text("EXECUTING", timeout=30_000)
    expect(page.locator("#progress")).to_contain_text("of 2", timeout=30_000)
    expect(page.locator("#phase")).to_have_text("COMPLETED", timeout=30_000)
    expect(page.locator("a[download]")).to_have_text(["message"])
    page.screenshot(path=str(tmp_path / "job-page.png"), full_page=True)
    assert problems == [], problems  # no CSP violation, no script error, no missing resource


def test_the_job_list_shows_new_jobs_and_their_phases(page_server: RunningServer, browser: Any) -> None:
    page = browser.new_page()
    problems = watch_console(page)
    page.goto(page_server.jobs_url("echo"))
    expect = playwright.expect
    expect(page.locator("#live")).to_contain_text("Live")
    job = job_id_of(page_server.create_job(message="appears", delay=1, run=True))
    row = page.locator(f'tr[data-job-id="{job}"] .phase')
    expect(row).to_have_text("COMPLETED", timeout=30_000)
    assert problems == [], problems
