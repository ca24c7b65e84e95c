"""Building the Tornado application and its backends from the settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import tornado.web

from spt_api.config import Settings
from spt_api.handlers.base import NotFoundHandler
from spt_api.handlers.jobs import JOB_ROUTES
from spt_api.handlers.sync import ServiceSyncHandler
from spt_api.handlers.system import SYSTEM_ROUTES, HealthHandler, IndexHandler, MetricsHandler
from spt_api.job_service import JobService
from spt_api.metrics import Metrics
from spt_api.sync_executor import SyncExecutor
from spt_api.uws.models import utcnow

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

    async def start(self) -> None:
        started = utcnow()
        await self.jobs.events.start()
        self.jobs.dispatcher.start()
        await self._recover(started)
        self._maintenance = asyncio.create_task(run_maintenance(self, self._stop))

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
        self._stop.set()
        if self._maintenance is not None:
            with contextlib.suppress(Exception):
                await self._maintenance
        with contextlib.suppress(Exception):
            self.jobs.dispatcher.stop()
        await self.jobs.events.stop()
        self.jobs.close()
        self.sync.close()


def _log_request(metrics: Metrics) -> Any:
    def log_function(handler: tornado.web.RequestHandler) -> None:
        status = handler.get_status()
        route = type(handler).__name__
        elapsed = handler.request.request_time()
        metrics.http_latency.labels(handler.request.method, route, str(status)).observe(elapsed)
        if status >= 500:
            log.error("%s %s %d %.1fms", handler.request.method, handler.request.uri, status, elapsed * 1000)
        else:
            log.debug("%s %s %d %.1fms", handler.request.method, handler.request.uri, status, elapsed * 1000)

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
