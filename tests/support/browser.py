"""Debian's Chromium driven by Playwright, for the tests that need a real browser.

The browser is /usr/bin/chromium (``apt-get install chromium``; ``make test`` installs it when missing),
launched by path: Playwright's own browser downloads are not reachable here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "chromium"]

CHROMIUM = Path(os.environ.get("SPT_API_TEST_CHROMIUM", "/usr/bin/chromium"))
#: Chromium's flags on this machine: as root, headless, and no calls home (the network is closed, and
#: its background requests fail by the dozen; see the machine notes).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (a Playwright ``Browser``); skips the test when Playwright or Chromium is missing.

    Playwright's sync API runs an event loop in this thread while the browser is open: hold it no longer
    than a test module, as the async tests of other modules need the thread's loop to themselves."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (make test does)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
