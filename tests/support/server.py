"""A real spt-api server in a thread of the test process: :class:`RunningServer`, :func:`start_server`
and :func:`serving` (the same as a context manager, for fixtures: ``with serving(settings) as server``).

The server runs in its own thread and event loop, so synchronous clients (pyvo, requests) and
async ones (httpx) can both drive it; ``backends`` gives tests the server's store and cache.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from spt_api.app import Backends
from spt_api.config import Settings
from spt_api.testing import start_server_thread
from tests.api.uws_helpers import wait_until_final

__all__ = ["RunningServer", "serving", "start_server"]


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
            response = client.post(
                self.jobs_url(service),
                content=urlencode(data),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        assert response.status_code == 303, response.text
        return response.headers["Location"]

    def wait_final(self, job_url: str, timeout: float = 60) -> dict[str, Any]:
        """Follow a job with WAIT until it leaves the active phases; return its JSON."""
        with self.client() as client:
            return wait_until_final(client, job_url, timeout)


def start_server(
    settings: Settings, configure: Callable[[Backends], None] | None = None
) -> tuple[RunningServer, Callable[[], None]]:
    """Start a server with ``settings``; return it and the function that stops it."""
    thread = start_server_thread(settings, configure=configure)
    return RunningServer(thread.base_url, settings, thread.backends, thread.loop), thread.stop


@contextlib.contextmanager
def serving(settings: Settings, configure: Callable[[Backends], None] | None = None) -> Iterator[RunningServer]:
    """A server with ``settings`` for the ``with`` block; stopped when it ends, whatever the way out."""
    running, stop = start_server(settings, configure=configure)
    try:
        yield running
    finally:
        stop()


@asynccontextmanager
async def running_backends(settings: Settings, *, run_migrations: bool = True) -> AsyncIterator[Backends]:
    """The API's backends of ``settings``, started on the running loop (no HTTP server), stopped at the end."""
    from spt_api.bootstrap import build_backends

    backends = build_backends(settings, run_migrations=run_migrations)
    await backends.start()
    try:
        yield backends
    finally:
        await backends.stop()
        backends.jobs.dispatcher.stop()
        backends.jobs.store.engine.dispose()
