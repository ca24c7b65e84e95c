"""The built web app under /app/cutout: files of the build, the single-page fallback, and no build at all."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import tornado.netutil
import tornado.web
from tornado.httpserver import HTTPServer

from spt_api.config import Settings
from spt_api.handlers.webapp import WEBAPP_PATH, webapp_routes

INDEX = b"<!doctype html><title>cutouts</title><script type=module src=/app/cutout/assets/app-1a2b.js></script>"
SCRIPT = b"console.log('app')"

# The client fixture lives on the session loop (asyncio_default_fixture_loop_scope); so do the tests.
pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_bytes(INDEX)
    (tmp_path / "assets" / "app-1a2b.js").write_bytes(SCRIPT)
    (tmp_path.parent / "secret.txt").write_text("not served")
    return tmp_path


@contextlib.asynccontextmanager
async def serving(webapp_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The web app's routes alone, on a free port of this test's event loop."""
    app = tornado.web.Application(webapp_routes(Settings(webapp_dir=webapp_dir)))
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = HTTPServer(app)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        server.stop()


@pytest.fixture
async def client(dist: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(dist) as client:
        yield client


async def test_the_app_path_redirects_to_its_folder(client: httpx.AsyncClient) -> None:
    response = await client.get(WEBAPP_PATH)
    assert response.status_code == 302
    assert response.headers["Location"] == "/app/cutout/"


@pytest.mark.parametrize("path", ["/app/cutout/", "/app/cutout/jobs/abc123", "/app/cutout/jobs/abc123/"])
async def test_the_app_and_its_own_routes_get_index_html(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.content == INDEX
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-cache"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_build_files_are_served_and_cached(client: httpx.AsyncClient) -> None:
    response = await client.get("/app/cutout/assets/app-1a2b.js")
    assert response.status_code == 200
    assert response.content == SCRIPT
    assert "javascript" in response.headers["Content-Type"]
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    again = await client.get("/app/cutout/assets/app-1a2b.js", headers={"If-None-Match": response.headers["Etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("path", ["/app/cutout/assets/gone-9z.js", "/app/cutout/favicon.ico"])
async def test_a_missing_file_is_404_not_the_page(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.content != INDEX


@pytest.mark.parametrize("path", ["/app/cutout/../secret.txt", "/app/cutout/%2e%2e/secret.txt"])
async def test_nothing_outside_the_build_is_served(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code in (403, 404)
    assert b"not served" not in response.content


async def test_without_a_build_the_answer_says_how_to_make_one(tmp_path: Path) -> None:
    async with serving(tmp_path / "nowhere") as client:
        for path in ("/app/cutout/", "/app/cutout/jobs/x"):
            response = await client.get(path)
            assert response.status_code == 404
            assert "npm run build" in response.text
            assert "SPT_API_WEBAPP_DIR" in response.text
