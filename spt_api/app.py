"""Building the Tornado application and its backends from the settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import tornado.web

from spt_api.config import Settings
from spt_api.handlers.base import NotFoundHandler
from spt_api.handlers.jobs import JOB_ROUTES
from spt_api.handlers.sync import ServiceSyncHandler
from spt_api.handlers.system import SYSTEM_ROUTES, HealthHandler, IndexHandler, MetricsHandler
from spt_api.job_service import JobService
from spt_api.metrics import Metrics, watch_loop_lag
from spt_api.sync_executor import SyncExecutor

__all__ = ["Backends", "make_app"]

log = logging.getLogger(__name__)


@dataclass
class Backends:
    settings: Settings
    jobs: JobService
    metrics: Metrics
    sync: SyncExecutor

    def __post_init__(self) -> None:
        self._stop = asyncio.Event()
        self._maintenance: asyncio.Task[None] | None = None
        self._loop_lag: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.jobs.events.start()
        self.jobs.dispatcher.start()
        self._maintenance = asyncio.create_task(run_maintenance(self, self._stop))
        if self.settings.loop_lag_interval > 0:
            self._loop_lag = asyncio.create_task(
                watch_loop_lag(self.metrics, self.settings.loop_lag_interval, self.settings.slow_callback_seconds)
            )

    async def stop(self) -> None:
        self._stop.set()
        if self._loop_lag is not None:
            self._loop_lag.cancel()
        if self._maintenance is not None:
            with contextlib.suppress(Exception):
                await self._maintenance
        with contextlib.suppress(Exception):
            self.jobs.dispatcher.stop()
        await self.jobs.events.stop()
        self.jobs.close()
        self.sync.close()


#: The HTTP methods a metric names; any other (a client may send anything) is counted as ``other``.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The statuses a metric names; any other is counted by its class (``2xx`` ... ``5xx``).
KNOWN_STATUSES = frozenset({200, 201, 204, 206, 303, 304, 400, 401, 403, 404, 405, 409, 413, 414, 429, 431,
                            500, 502, 503, 504})


def metric_labels(handler: tornado.web.RequestHandler) -> tuple[str, str, str]:
    """The (method, route, status) labels of a request, each from a closed set.

    Every label of a Prometheus series must come from a bounded set, or a client sending random
    methods (each answered 405) or paths grows the scrape without limit. The route is the handler
    class: routes are code, not input.
    """
    method = handler.request.method or ""
    status = handler.get_status()
    return (
        method if method in KNOWN_METHODS else "other",
        type(handler).__name__,
        str(status) if status in KNOWN_STATUSES else f"{status // 100}xx",
    )


def _log_request(metrics: Metrics) -> Any:
    def log_function(handler: tornado.web.RequestHandler) -> None:
        status = handler.get_status()
        elapsed = handler.request.request_time()
        metrics.http_latency.labels(*metric_labels(handler)).observe(elapsed)
        method, uri = handler.request.method, handler.request.uri
        if status >= 500:
            log.error("%s %s %d %.1fms", method, uri, status, elapsed * 1000)
        else:
            log.debug("%s %s %d %.1fms", method, uri, status, elapsed * 1000)

    return log_function


def make_app(backends: Backends) -> tornado.web.Application:
    settings = backends.settings
    common = {"jobs": backends.jobs, "settings": settings}
    base = settings.base_path.rstrip("/")
    # A service's sync endpoint comes from its declaration, before the generic job routes.
    routes: list[Any] = [
        (f"{base}/{name}/sync/?", ServiceSyncHandler, {**common, "service": name, "sync": backends.sync})
        for name, spec in backends.jobs.services.items()
        if spec.sync is not None
    ]
    routes += [(base + pattern, handler, common) for pattern, handler in [*SYSTEM_ROUTES, *JOB_ROUTES]]
    routes += [
        (r"/health(?:/(?P<probe>live|ready))?", HealthHandler, common),
        # The first URLs a newcomer opens: the root and the API base answer with where to go next.
        (r"/", IndexHandler, common),
        (base + r"/?", IndexHandler, common),
    ]
    if settings.metrics_enabled:
        routes.append((r"/metrics", MetricsHandler, {**common, "metrics": backends.metrics}))
    return tornado.web.Application(
        routes,
        default_handler_class=NotFoundHandler,
        default_handler_args=common,
        log_function=_log_request(backends.metrics),
        # The handlers enforce settings.max_body_size themselves (413 with an error document).
        xsrf_cookies=False,
        slow_callback_seconds=settings.slow_callback_seconds,
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
            await jobs.call(cleanup_expired, jobs.store, jobs.objects, jobs.dispatcher, jobs.events)
        except Exception as exc:
            log.warning("maintenance pass failed: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
