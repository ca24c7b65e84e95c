"""The composition root: builds the backends from the settings and picks the executor.

The only module under ``spt_api/`` that imports ``workers`` (the embedded pool
runs the workers' task code); import-linter holds every other module to that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from spt_api.app import Backends, make_app, make_server
from spt_api.auth import Authenticator
from spt_api.config import Settings
from spt_api.db import JobStore, create_job_store
from spt_api.events import EventBus, InProcessEventBus, RedisEventBus
from spt_api.job_service import AnnouncesAndSends, JobService
from spt_api.metrics import Metrics
from spt_api.queue import Dispatcher
from spt_api.services import ServiceRegistry, UnknownServiceError
from spt_api.storage import create_object_store
from spt_api.sync_gate import SyncGate
from spt_api.uws.principal import Principal

__all__ = [
    "UnsupportedSettingError",
    "build_backends",
    "check_supported",
    "load_services",
    "serve_forever",
    "worker_commands",
]

log = logging.getLogger(__name__)

METRICS = Principal.system_actor("metrics")


class UnsupportedSettingError(RuntimeError):
    """A setting asks for something this version cannot do; serving anyway would be unsafe."""


def check_supported(settings: Settings) -> None:
    """Raise :class:`UnsupportedSettingError` for settings this version cannot honour."""
    # Fail closed: an operator who asked for authentication must not get an open service instead.
    problem = settings.auth_problem or settings.events_problem
    if problem:
        raise UnsupportedSettingError(problem)
    try:
        load_services(settings)
    except UnknownServiceError as exc:
        # SPT_API_SERVICES names a service this image lacks: say so in one line, before serving anything.
        raise UnsupportedSettingError(str(exc)) from exc


def worker_commands() -> Any:
    """The worker-side ``spt-api`` commands (worker, reconcile, cleanup, maps), registered on the CLI."""
    from workers.cli import register_cli

    return register_cli


def load_services(settings: Settings) -> ServiceRegistry:
    """The installed services (entry points), or those ``SPT_API_SERVICES`` names."""
    return ServiceRegistry.from_entry_points(settings.enabled_services)


def _dispatcher(
    settings: Settings, store: JobStore, events: EventBus, services: ServiceRegistry
) -> tuple[Dispatcher, AnnouncesAndSends | None]:
    """The dispatcher, and what announces and sends a job in one step where the event bus and the broker
    are one Redis (see :mod:`spt_api.announced_send`; None otherwise: the event, then the send)."""
    if settings.is_embedded_queue:
        from workers.embedded import EmbeddedDispatcher

        return EmbeddedDispatcher(settings, store, events), None
    from spt_api.announced_send import AnnouncedSend
    from spt_api.queue.celery_dispatcher import CeleryDispatcher

    dispatcher = CeleryDispatcher(settings, services.queues())
    if not isinstance(events, RedisEventBus):
        return dispatcher, None
    return dispatcher, AnnouncedSend.between(events.publisher, dispatcher.writer)


def build_backends(
    settings: Settings, *, run_migrations: bool = True, services: ServiceRegistry | None = None
) -> Backends:
    check_supported(settings)
    services = services if services is not None else load_services(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = create_job_store(settings.effective_database_url, run_migrations=run_migrations)
    events_url = settings.effective_redis_url
    events: EventBus = RedisEventBus(events_url) if events_url else InProcessEventBus()
    dispatcher, announced_send = _dispatcher(settings, store, events, services)
    objects = create_object_store(settings)
    jobs = JobService(settings, store, dispatcher, events, objects, services, announced_send=announced_send)
    metrics = Metrics()
    # The metrics count every user's jobs: they are read as the system.
    metrics.watch_jobs(
        lambda: store.count_by_phase(METRICS), dispatcher.queue_depths, lambda: store.worker_heartbeats(METRICS)
    )
    events.add_exclusive_listener(metrics.observe_event)
    authenticator = Authenticator(settings) if settings.auth_enabled else None
    return Backends(settings, jobs, metrics, SyncGate(settings.sync_max), authenticator=authenticator)


async def serve_forever(settings: Settings, sockets: list[Any]) -> None:
    # `spt-api serve` migrated once before it forked its processes.
    backends = build_backends(settings, run_migrations=False)
    await backends.start()
    app = make_app(backends)
    server = make_server(app, settings, xheaders=True)
    server.add_sockets(sockets)
    log.info("spt-api listening on http://%s:%d", settings.host, settings.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()
    await backends.stop()
