"""Development and image builds of the web app: what the chart's devMode, Okteto and the Dockerfile run.

The chart's devMode and the Okteto manifests run ``npm start`` in webapp/ with PORT, HOST and (devMode)
API_PROXY_TARGET: it must serve /app/cutout/ with hot reload and hand /api and /account to the API.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support._proc import wait_until
from tests.support.server import RunningServer
from tests.webapp.conftest import REPO, WEBAPP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def dev_server(webapp_server: RunningServer, tmp_path: Path) -> Iterator[str]:
    npm = shutil.which("npm")
    if npm is None or not (WEBAPP / "node_modules").is_dir():
        pytest.skip("npm or webapp/node_modules missing (make test runs npm ci)")
    port = _free_port()
    env = {**os.environ, "PORT": str(port), "HOST": "0.0.0.0", "API_PROXY_TARGET": webapp_server.base_url}
    log = tmp_path / "vite.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [npm, "start"], cwd=WEBAPP, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: httpx.get(base + "/app/cutout/", timeout=2).status_code == 200,
            timeout=60,
            what="the Vite dev server (npm start)",
            proc=process,
            log_path=log,
        )
        yield base
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=10)


def test_npm_start_serves_the_app_with_hot_reload_and_proxies_the_api(dev_server: str) -> None:
    # HOST=0.0.0.0 as in the cluster: the Ingress's host name is served (Vite refuses unknown hosts by default).
    page = httpx.get(dev_server + "/app/cutout/jobs/abc", headers={"Host": "spt-dev1.example.org"}, timeout=10)
    assert page.status_code == 200, page.text
    assert "/app/cutout/@vite/client" in page.text  # the hot-reload client
    assert "/app/cutout/src/main.tsx" in page.text
    services = httpx.get(dev_server + "/api/services", headers={"Accept": "application/json"}, timeout=10)
    assert services.status_code == 200
    assert "cutout" in [s["name"] for s in services.json()["services"]]
    # /account goes to the API too (its answer, whatever login the API has, is the API's, not Vite's).
    account = httpx.get(dev_server + "/account/me", timeout=10)
    assert account.headers.get("X-Content-Type-Options") == "nosniff"


def test_the_scripts_the_chart_okteto_and_make_use_exist() -> None:
    scripts = json.loads((WEBAPP / "package.json").read_text())["scripts"]
    assert scripts["start"] == "vite" and scripts["dev"] == "vite"
    assert "vite build" in scripts["build"] and scripts["test"] == "vitest run"
    config = (WEBAPP / "vite.config.ts").read_text()
    assert 'base: "/app/cutout/"' in config
    for name in ("PORT", "HOST", "API_PROXY_TARGET", '"/api"', '"/account"', "ws: true"):
        assert name in config


def test_the_image_builds_the_app_and_points_the_api_at_it() -> None:
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert "RUN npm ci" in dockerfile and "RUN npm run build" in dockerfile
    assert "COPY --from=webapp /webapp/dist /app/webapp" in dockerfile
    assert "SPT_API_WEBAPP_DIR=/app/webapp" in dockerfile
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert "webapp/node_modules" in ignored and "webapp/dist" in ignored
