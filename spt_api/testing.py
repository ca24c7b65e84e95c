"""A whole spt-api server in a background thread: for tests, benchmarks and notebooks.

It runs the same application and backends as ``spt-api serve`` on a free port of
127.0.0.1, with its own event loop, so synchronous clients (pyvo, requests) and
asynchronous ones can drive it from the calling thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tornado.netutil
import tornado.web

from spt_api.app import Backends, make_app, make_server
from spt_api.bootstrap import build_backends
from spt_api.config import Settings
from spt_api.services import ServiceRegistry

__all__ = ["ServerThread", "start_server_thread"]

#: Longest a server may take to start (the embedded pool spawns its processes meanwhile).
START_TIMEOUT = 60


@dataclass
class ServerThread:
    base_url: str
    settings: Settings
    backends: Backends
    loop: asyncio.AbstractEventLoop
    stop: Callable[[], None]


def start_server_thread(
    settings: Settings,
    extra_handlers: list[tuple[str, type[tornado.web.RequestHandler]]] | None = None,
    services: ServiceRegistry | None = None,
    configure: Callable[[Backends], None] | None = None,
) -> ServerThread:
    """A server on a free port. ``services``: serve these declarations instead of the installed ones (a
    test's own service); ``configure`` may change the backends before the app is built."""
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        backends = build_backends(settings, services=services)
        loop.run_until_complete(backends.start())
        if configure is not None:
            configure(backends)
        app = make_app(backends)
        if extra_handlers:
            app.add_handlers(r".*", extra_handlers)
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        server = make_server(app, settings)
        server.add_sockets(sockets)
        holder.update(loop=loop, backends=backends, port=sockets[0].getsockname()[1])
        ready.set()
        loop.run_forever()
        server.stop()
        loop.run_until_complete(backends.stop())
        loop.close()

    thread = threading.Thread(target=run, daemon=True, name="spt-api-server")
    thread.start()
    if not ready.wait(START_TIMEOUT):
        raise RuntimeError("spt-api server did not start")

    def stop() -> None:
        holder["loop"].call_soon_threadsafe(holder["loop"].stop)
        thread.join(timeout=30)

    return ServerThread(f"http://127.0.0.1:{holder['port']}", settings, holder["backends"], holder["loop"], stop)
