"""Fixtures of the browser tests: the built web app, Debian's Chromium driven by Playwright, a real server.

The browser comes from :mod:`tests.support.browser`. Each test's screenshots go to an artifacts folder
whose path the test prints (``SPT_API_TEST_ARTIFACTS``, else under pytest's temporary directory).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.auth.conftest import auth_settings, keycloak, realm_key  # noqa: F401 (the stand-in's fixtures)
from tests.auth.standin import KeycloakStandIn
from tests.conftest import cutout_maps, embedded_settings
from tests.support.browser import chromium
from tests.support.server import RunningServer, serving

REPO = Path(__file__).parents[2]
WEBAPP = REPO / "webapp"
#: A laptop screen: the app must fit it without sideways scrolling.
VIEWPORT = {"width": 1366, "height": 768}


def _stale(dist: Path) -> bool:
    index = dist / "index.html"
    if not index.is_file():
        return True
    built = index.stat().st_mtime
    sources = [WEBAPP / "index.html", WEBAPP / "vite.config.ts", WEBAPP / "package-lock.json", *WEBAPP.glob("src/**/*")]
    return any(p.is_file() and p.stat().st_mtime > built for p in sources)


@pytest.fixture(scope="session")
def webapp_dist() -> Path:
    """webapp/dist, built (npm ci, npm run build) when missing or older than its sources."""
    dist = WEBAPP / "dist"
    if _stale(dist):
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("the web app is not built and npm is missing (install Node.js 20+)")
        if not (WEBAPP / "node_modules").is_dir():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEBAPP, check=True)
        subprocess.run([npm, "run", "build"], cwd=WEBAPP, check=True, stdout=subprocess.DEVNULL)
    return dist


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium, per test module (see :func:`tests.support.browser.chromium` for why no longer)."""
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots and downloads go (printed, so a failing run can be looked at)."""
    configured = os.environ.get("SPT_API_TEST_ARTIFACTS")
    folder = Path(configured) / "webapp" if configured else tmp_path_factory.mktemp("artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    ARTIFACT_FOLDERS.append(folder)
    return folder


#: The artifacts folders of this run, named in the terminal summary.
ARTIFACT_FOLDERS: list[Path] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for folder in ARTIFACT_FOLDERS:
        terminalreporter.write_line(f"web app test artifacts (screenshots, downloads): {folder}")


@pytest.fixture(scope="session")
def webapp_server(
    tmp_path_factory: pytest.TempPathFactory, demo_maps: Path, webapp_dist: Path
) -> Iterator[RunningServer]:
    """A real server on the embedded backends (its worker processes run the cutouts) serving the build."""
    settings = embedded_settings(
        tmp_path_factory.mktemp("webapp-server"),
        service_settings=cutout_maps(demo_maps),
        webapp_dir=webapp_dist,
        fan_out_chunk=500,
        wait_max=30,
    )
    with serving(settings) as running:
        yield running


@pytest.fixture(scope="session")
def auth_webapp_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, demo_maps: Path, webapp_dist: Path
) -> Iterator[RunningServer]:
    """The same with login on, trusting the Keycloak stand-in (users alice and bob, password <user>-pw)."""
    standin: KeycloakStandIn = request.getfixturevalue("keycloak")  # tests/auth's fixture, imported above
    settings = auth_settings(
        tmp_path_factory.mktemp("webapp-auth-server"),
        standin.url,
        service_settings=cutout_maps(demo_maps),
        webapp_dir=webapp_dist,
        fan_out_chunk=500,
        embedded_pool_size=2,
    )
    with serving(settings) as running:
        yield running


@pytest.fixture(scope="session")
def production_webapp_server(
    request: pytest.FixtureRequest, demo_maps: Path, webapp_dist: Path, production_infra: Any, celery_worker: Any
) -> Iterator[RunningServer]:
    """The production backends (PostgreSQL, Redis, Celery workers, SeaweedFS S3): results are signed S3
    URLs on another origin, which previews (<img>) and the manifest (fetch, CORS) follow."""
    settings = production_infra.settings(service_settings=cutout_maps(demo_maps), webapp_dir=webapp_dist)
    with serving(settings) as running:
        yield running
