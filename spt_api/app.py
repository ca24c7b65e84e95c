"""Building the Tornado application and its backends from the settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import tornado.web

from spt_api.config import Settings
from spt_api.db import JobStore, create_job_store
from spt_api.events import EventBus, InProcessEventBus, RedisEventBus
from spt_api.handlers.base import NotFoundHandler
from spt_api.handlers.jobs import JOB_ROUTES
from spt_api.handlers.sync import SYNC_ROUTES
from spt_api.handlers.system import SYSTEM_ROUTES, HealthHandler, IndexHandler, MetricsHandler
from spt_api.job_service import JobService
from spt_api.metrics import Metrics
from spt_api.queue import Dispatcher
from spt_api.storage import create_object_store
from workers.services import services

__all__ = ["Backends", "UnsupportedSettingError", "build_backends", "make_app"]

log = logging.getLogger(__name__)


def _dispatcher(settings: Settings, store: JobStore, events: EventBus) -> Dispatcher:
    if settings.is_embedded_queue:
        from spt_api.queue.embedded import EmbeddedDispatcher

        return EmbeddedDispatcher(settings, store, events)
    from spt_api.queue.celery_dispatcher import CeleryDispatcher

    return CeleryDispatcher(settings)


@dataclass
class Backends:
    settings: Settings
    jobs: JobService
    metrics: Metrics

    def __post_init__(self) -> None:
        self._stop = asyncio.Event()
        self._maintenance: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.jobs.events.start()
        self.jobs.dispatcher.start()
        self._maintenance = asyncio.create_task(run_maintenance(self, self._stop))

    async def stop(self) -> None:
        self._stop.set()
        if self._maintenance is not None:
            with contextlib.suppress(Exception):
                await self._maintenance
        with contextlib.suppress(Exception):
            self.jobs.dispatcher.stop()
        await self.jobs.events.stop()
        self.jobs.close()


class UnsupportedSettingError(RuntimeError):
    """A setting asks for something this version cannot do; serving anyway would be unsafe."""


def check_supported(settings: Settings) -> None:
    """Raise :class:`UnsupportedSettingError` for settings this version cannot honour."""
    if settings.auth_enabled:
        # Fail closed: an operator who asked for authentication must not get an open service instead.
        raise UnsupportedSettingError(
            "SPT_API_AUTH_ENABLED=true, but this version has no Keycloak authentication yet: "
            "refusing to serve jobs unauthenticated (set it to false to run without auth)"
        )


def build_backends(settings: Settings, *, run_migrations: bool = True) -> Backends:
    check_supported(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = create_job_store(settings.effective_database_url, run_migrations=run_migrations)
    events: EventBus = RedisEventBus(settings.redis_url) if settings.redis_url else InProcessEventBus()
    dispatcher = _dispatcher(settings, store, events)
    objects = create_object_store(settings)
    jobs = JobService(settings, store, dispatcher, events, objects, services())
    metrics = Metrics()
    metrics.watch_jobs(store.count_by_phase, dispatcher.queue_depths, store.worker_heartbeats)
    events.add_exclusive_listener(metrics.observe_event)
    return Backends(settings, jobs, metrics)


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
    routes: list[Any] = [
        (base + pattern, handler, common) for pattern, handler in [*SYSTEM_ROUTES, *SYNC_ROUTES, *JOB_ROUTES]
    ]
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


async def serve_forever(settings: Settings, sockets: list[Any]) -> None:
    from tornado.httpserver import HTTPServer

    # `spt-api serve` migrated once before it forked its processes.
    backends = build_backends(settings, run_migrations=False)
    await backends.start()
    app = make_app(backends)
    server = HTTPServer(app, max_body_size=max(settings.max_body_size * 4, 64 << 20), xheaders=True)
    server.add_sockets(sockets)
    log.info("spt-api listening on http://%s:%d", settings.host, settings.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()
    await backends.stop()


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
