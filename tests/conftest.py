"""Shared fixtures: a real spt-api server on a free port, per backend.

The server runs in its own thread and event loop, so synchronous clients
(pyvo, requests) and async ones (httpx) can both drive it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import tornado.httpserver
import tornado.netutil

from spt_api.app import Backends, build_backends, make_app
from spt_api.config import Settings


@dataclass
class RunningServer:
    base_url: str
    settings: Settings
    backends: Backends
    loop: asyncio.AbstractEventLoop

    @property
    def api(self) -> str:
        return self.base_url + self.settings.base_path

    def jobs_url(self, service: str = "echo") -> str:
        return f"{self.api}/{service}/jobs"

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=60, **kwargs)

    def create_job(self, service: str = "echo", run: bool = False, **params: Any) -> str:
        """Create a job; return its URL."""
        data = [(k, str(v)) for k, v in params.items()]
        if run:
            data.append(("PHASE", "RUN"))
        with self.client() as client:
            response = client.post(self.jobs_url(service), data=data)  # type: ignore[arg-type]
        assert response.status_code == 303, response.text
        return response.headers["Location"]

    def wait_final(self, job_url: str, timeout: float = 60) -> dict[str, Any]:
        """Follow a job with WAIT until it leaves the active phases; return its JSON."""
        import time

        deadline = time.monotonic() + timeout
        with self.client() as client:
            while True:
                job: dict[str, Any] = client.get(
                    job_url, params={"WAIT": 5}, headers={"Accept": "application/json"}
                ).json()
                if job["phase"] not in ("PENDING", "QUEUED", "EXECUTING"):
                    return job
                assert time.monotonic() < deadline, f"job still {job['phase']} after {timeout}s"


def start_server(settings: Settings) -> tuple[RunningServer, Callable[[], None]]:
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        backends = build_backends(settings)
        loop.run_until_complete(backends.start())
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        server = tornado.httpserver.HTTPServer(make_app(backends), max_body_size=256 << 20)
        server.add_sockets(sockets)
        holder.update(loop=loop, backends=backends, port=sockets[0].getsockname()[1], server=server)
        ready.set()
        loop.run_forever()
        server.stop()
        loop.run_until_complete(backends.stop())
        loop.close()

    thread = threading.Thread(target=run, daemon=True, name="spt-api-test-server")
    thread.start()
    assert ready.wait(60), "server did not start"
    running = RunningServer(f"http://127.0.0.1:{holder['port']}", settings, holder["backends"], holder["loop"])

    def stop() -> None:
        holder["loop"].call_soon_threadsafe(holder["loop"].stop)
        thread.join(timeout=30)

    return running, stop


def embedded_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "embedded_pool_size": 2,
        "wait_max": 30,
        "heartbeat_interval": 1,
        "max_body_size": 1024 * 1024,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session", params=["embedded"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A running server per backend; the same tests run against each."""
    running, stop = start_server(embedded_settings(tmp_path_factory.mktemp("embedded")))
    yield running
    stop()


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c
