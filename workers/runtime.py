"""What a worker process needs to run jobs: the services, the store, the object store, an event publisher."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from spt_api.config import Settings
from spt_api.db import JobStore, create_job_store
from spt_api.events import EventPublisher, JobEvent, RedisEventPublisher
from spt_api.scratch import scratch_root
from spt_api.services import ServiceRegistry
from spt_api.storage import ObjectStore, create_object_store
from spt_api.uws.models import Job
from spt_api.uws.principal import Principal
from workers.heartbeat import Heartbeats
from workers.start_events import HeldStartPublisher

__all__ = ["WORKER", "NullPublisher", "WorkerRuntime", "build_runtime", "event_publisher"]

#: Workers act for the system: they run every user's jobs.
WORKER = Principal.system_actor("worker")


class NullPublisher:
    def publish(self, job_id: str, event: JobEvent) -> None:
        return None

    def publish_many(self, events: Sequence[tuple[str, JobEvent]]) -> None:
        return None


@dataclass
class WorkerRuntime:
    settings: Settings
    services: ServiceRegistry
    store: JobStore
    objects: ObjectStore
    #: Job events; a job's start may be held until its end (see :mod:`workers.start_events`).
    events: HeldStartPublisher
    #: Sends a QUEUED job (a fan-out child) to the workers.
    dispatch: Callable[[Job], object]
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    heartbeats: Heartbeats = field(init=False)

    def __post_init__(self) -> None:
        self.heartbeats = Heartbeats(
            lambda job_id: self.store.heartbeat(WORKER, job_id, self.worker_id), self.settings.heartbeat_interval
        )

    @cached_property
    def scratch_dir(self) -> Path:
        """Where jobs' scratch directories go; each is made (parents too) when its job first uses it."""
        return scratch_root(self.settings)


def event_publisher(settings: Settings) -> EventPublisher:
    """Job events go to Redis when there is one (``SPT_API_REDIS_URL``, else a Redis broker); nowhere
    otherwise: the embedded pool's API hears its children directly, and ``spt-api worker`` refuses to
    start with a broker that cannot carry them (``Settings.events_problem``)."""
    url = settings.effective_redis_url
    return RedisEventPublisher(url) if url else NullPublisher()


def build_runtime(
    settings: Settings,
    services: ServiceRegistry,
    *,
    events: EventPublisher,
    dispatch: Callable[[Job], object],
) -> WorkerRuntime:
    return WorkerRuntime(
        settings=settings,
        services=services,
        # The API (or `spt-api migrate`) owns the schema; a worker must not race it. A worker process runs
        # one job at a time: its claim and completion keep one connection rather than a checkout each.
        store=create_job_store(
            settings.effective_database_url, run_migrations=False, pool_size=2, hold_connection=True
        ),
        objects=create_object_store(settings),
        events=HeldStartPublisher(events, settings.start_event_hold),
        dispatch=dispatch,
    )
