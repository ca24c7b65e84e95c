"""Building the Tornado application and its backends from the settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import tornado.web
from tornado import iostream
from tornado.httpserver import HTTPServer

from spt_api.auth import Authenticator
from spt_api.config import Settings
from spt_api.handlers.account import ACCOUNT_ROUTES
from spt_api.handlers.base import Lifecycle, NotFoundHandler
from spt_api.handlers.jobs import JOB_ROUTES
from spt_api.handlers.live import LIVE_ROUTES
from spt_api.handlers.resources import ResourceHandler, resource_routes
from spt_api.handlers.sync import SYNC_ROUTES
from spt_api.handlers.system import SYSTEM_ROUTES, HealthHandler, IndexHandler, MetricsHandler
from spt_api.handlers.webapp import webapp_routes
from spt_api.job_service import JobService
from spt_api.live import LiveHub
from spt_api.metrics import Metrics, watch_loop_lag
from spt_api.sync_gate import SyncGate
from spt_api.uws.models import utcnow

__all__ = ["Backends", "make_app", "make_server"]

log = logging.getLogger(__name__)

#: Longest the server waits, when it stops, for the WAIT requests in flight to answer (seconds).
SHUTDOWN_GRACE = 10.0
#: Seconds between pings on an idle WebSocket: a proxy keeps it open, and a vanished client is noticed.
WEBSOCKET_PING_INTERVAL = 30.0


@dataclass
class Backends:
    settings: Settings
    jobs: JobService
    metrics: Metrics
    sync: SyncGate
    #: Long requests (WAIT) answer early when the server stops (see :meth:`stop`).
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    #: Checks bearer tokens and login sessions; None while authentication is off.
    authenticator: Authenticator | None = None

    def __post_init__(self) -> None:
        #: The open WebSockets of live updates, and each change's message built once for all of them.
        self.live = LiveHub(self.jobs, on_too_slow=self.metrics.websockets_too_slow.inc)
        self.metrics.waits_in_flight.set_function(lambda: self.lifecycle.active)
        self.metrics.websockets_open.set_function(lambda: self.live.open_count)
        self._stop = asyncio.Event()
        self._maintenance: asyncio.Task[None] | None = None
        self._loop_lag: asyncio.Task[None] | None = None

    async def start(self) -> None:
        started = utcnow()
        if self.authenticator is not None:
            await self.authenticator.start()  # fetches the realm's keys in the background, retrying
        await self.jobs.events.start()
        self.jobs.dispatcher.start()
        await self._recover(started)
        self._maintenance = asyncio.create_task(run_maintenance(self, self._stop))
        if self.settings.loop_lag_interval > 0:
            self._loop_lag = asyncio.create_task(
                watch_loop_lag(self.metrics, self.settings.loop_lag_interval, self.settings.slow_callback_seconds)
            )

    async def _recover(self, started: datetime) -> None:
        """Before serving: put back to work the jobs a killed predecessor left (spt_api.recovery)."""
        from spt_api.recovery import recover_at_start

        jobs = self.jobs
        try:
            await jobs.call(recover_at_start, self.settings, jobs.store, jobs.dispatcher, jobs.events, started)
        except Exception as exc:
            # The store or the broker is down: serve anyway (/health says so); the reconciler catches up.
            log.warning("start-up recovery failed: %s", exc)

    async def stop(self) -> None:
        # First the WAITs in flight answer (the job as it is now), while the job store is still open,
        # and the WebSockets close with 1001 (going away): their clients reconnect to another replica.
        await asyncio.gather(self.lifecycle.drain(SHUTDOWN_GRACE), self.live.close_all(SHUTDOWN_GRACE))
        self._stop.set()
        if self._loop_lag is not None:
            self._loop_lag.cancel()
        if self._maintenance is not None:
            with contextlib.suppress(Exception):
                await self._maintenance
        with contextlib.suppress(Exception):
            self.jobs.dispatcher.stop()
        await self.jobs.events.stop()
        if self.authenticator is not None:
            await self.authenticator.stop()
        with contextlib.suppress(Exception):
            await self.jobs.close_loop_connections()
        self.jobs.close()


#: The HTTP methods a metric names; any other (a client may send anything) is counted as ``other``.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The statuses a metric names; any other is counted by its class (``2xx`` ... ``5xx``).
KNOWN_STATUSES = frozenset({200, 201, 204, 206, 303, 304, 400, 401, 403, 404, 405, 409, 413, 414, 429, 431,
                            500, 502, 503, 504})


def metric_labels(handler: tornado.web.RequestHandler, routes: frozenset[str]) -> tuple[str, str, str]:
    """The (method, route, status) labels of a request, each from a closed set.

    Every label of a Prometheus series must come from a bounded set, or a client sending random
    methods (each answered 405) or paths grows the scrape without limit. The route is the name of
    the handler class, one of ``routes`` (else ``other``): routes are code, not input.
    """
    method = handler.request.method or ""
    route = type(handler).__name__
    status = handler.get_status()
    return (
        method if method in KNOWN_METHODS else "other",
        route if route in routes else "other",
        str(status) if status in KNOWN_STATUSES else f"{min(max(status // 100, 1), 5)}xx",
    )


def _log_request(metrics: Metrics, routes: frozenset[str]) -> Any:
    def log_function(handler: tornado.web.RequestHandler) -> None:
        status = handler.get_status()
        elapsed = handler.request.request_time()
        metrics.http_latency.labels(*metric_labels(handler, routes)).observe(elapsed)
        method, uri = handler.request.method, handler.request.uri
        if status >= 500:
            log.error("%s %s %d %.1fms", method, uri, status, elapsed * 1000)
        else:
            log.debug("%s %s %d %.1fms", method, uri, status, elapsed * 1000)

    return log_function


def make_app(backends: Backends) -> tornado.web.Application:
    settings = backends.settings
    common = {"jobs": backends.jobs, "settings": settings, "lifecycle": backends.lifecycle}
    base = settings.base_path.rstrip("/")
    # The services' own resources first: /api/indexes/jobs is an index named "jobs", not a job list.
    routes: list[Any] = [
        (base + pattern, ResourceHandler, {**common, "resource": resource, "spec": spec})
        for pattern, resource, spec in resource_routes(backends.jobs.services)
    ]
    routes += [
        (base + pattern, handler, {**common, "sync_gate": backends.sync}) for pattern, handler in SYNC_ROUTES
    ]
    routes += [(base + pattern, handler, common) for pattern, handler in [*SYSTEM_ROUTES, *JOB_ROUTES]]
    live = {**common, "hub": backends.live}
    routes += [(base + pattern, handler, live) for pattern, handler in LIVE_ROUTES]
    routes += [
        (r"/health(?:/(?P<probe>live|ready))?", HealthHandler, common),
        # The first URLs a newcomer opens: the root and the API base answer with where to go next.
        (r"/", IndexHandler, common),
        (base + r"/?", IndexHandler, common),
    ]
    routes += [(pattern, handler, common) for pattern, handler in ACCOUNT_ROUTES]
    if settings.metrics_enabled:
        routes.append((r"/metrics", MetricsHandler, {**common, "metrics": backends.metrics}))
    # The built web app (webapp/dist): /app/cutout and the single-page app's own routes under it.
    routes += webapp_routes(settings)
    return tornado.web.Application(
        routes,
        default_handler_class=NotFoundHandler,
        default_handler_args=common,
        log_function=_log_request(
            backends.metrics, frozenset({route[1].__name__ for route in routes} | {NotFoundHandler.__name__})
        ),
        # The handlers enforce settings.max_body_size themselves (413 with an error document).
        # XSRF: checked by the handlers, for cookie-authenticated requests only (spt_api.handlers.auth).
        xsrf_cookies=False,
        xsrf_cookie_kwargs={"samesite": "Lax", "path": "/"},
        spt_authenticator=backends.authenticator,
        websocket_ping_interval=WEBSOCKET_PING_INTERVAL,
        slow_callback_seconds=settings.slow_callback_seconds,
        spt_settings=settings,
    )


class _OversizeAnsweringStream(iostream.IOStream):
    """A connection that answers a request line or header block over the server's hard limit.

    Past ``max_header_size`` Tornado closes the connection without a word. The application answers
    414/431 itself up to that hard limit (see ``BaseHandler.prepare``); this answers the few bigger
    ones, as well as it can while the client is still sending.
    """

    def close(self, exc_info: Any = False) -> None:
        if (
            isinstance(exc_info, iostream.UnsatisfiableReadError)
            and getattr(self, "_read_regex", None) is not None  # the header read, not a chunk-size line
            and not self.closed()
            and self.socket is not None
        ):
            head = bytes(self._read_buffer[:16384])
            if b"\n" in head:
                status, text = "431 Request Header Fields Too Large", "the request's header fields are too large"
            else:
                status, text = "414 URI Too Long", "the request URL is too long"
            body = f"UsageError: {text}\n".encode()
            answer = (
                f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                f"X-Content-Type-Options: nosniff\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            with contextlib.suppress(OSError):
                self.socket.send(answer)
                self.socket.shutdown(socket.SHUT_WR)
                # Discard what has already arrived: closing with unread data resets the connection,
                # which can make the client drop the answer.
                for _ in range(16):  # at most 1 MiB: a client sending on and on does not hold the loop
                    if not self.socket.recv(1 << 16):
                        break
        super().close(exc_info)


class SptHTTPServer(HTTPServer):
    """Tornado's HTTP server, answering over-long request lines and header blocks instead of hanging up."""

    def handle_stream(self, stream: iostream.IOStream, address: tuple[Any, ...]) -> None:
        if type(stream) is iostream.IOStream:
            stream.__class__ = _OversizeAnsweringStream
        super().handle_stream(stream, address)


def make_server(app: tornado.web.Application, settings: Settings, **kwargs: Any) -> HTTPServer:
    """The HTTP server of ``app``: bodies are limited by the handlers (413), headers by the app (414/431)."""
    return SptHTTPServer(
        app,
        max_body_size=max(settings.max_body_size * 4, 64 << 20),
        # Read headers up to 4 times the limit, so the application can answer 414/431 with an error document.
        max_header_size=settings.max_header_size * 4,
        **kwargs,
    )


async def run_maintenance(backends: Backends, stop: asyncio.Event) -> None:
    """Reconcile and clean up every ``reconcile_interval`` seconds, off the event loop."""
    from spt_api.maintenance import cleanup_expired, reconcile

    jobs = backends.jobs
    interval = backends.settings.reconcile_interval
    if interval <= 0:
        return
    while not stop.is_set():
        try:
            await jobs.call(reconcile, backends.settings, jobs.store, jobs.dispatcher, jobs.events)
            await jobs.call(
                cleanup_expired, jobs.store, jobs.objects, jobs.dispatcher, jobs.events, settings=backends.settings
            )
        except Exception as exc:
            log.warning("maintenance pass failed: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
