"""The worker's Celery application: the protocol's config-only app with the one task, ``spt.run_job``.

Built by :func:`build_worker_app` when ``spt-api worker`` starts, never at import:
an API process that imports nothing from here holds no Celery app of ours.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from spt_api.config import Settings
from spt_api.queue.celery_dispatcher import CeleryDispatcher
from spt_api.queue.protocol import RUN_JOB_TASK, make_celery
from spt_api.scratch import remove_job_scratch
from spt_api.services import ServiceRegistry
from workers.kombu_redis import TRANSPORT
from workers.runtime import WorkerRuntime, build_runtime, event_publisher

if TYPE_CHECKING:
    from celery import Celery

__all__ = ["build_worker_app"]

log = logging.getLogger(__name__)


class _WorkerState:
    """The app, its settings and services, and (per pool process) the runtime built from them."""

    def __init__(self, app: Celery, settings: Settings, services: ServiceRegistry) -> None:
        self.app = app
        self.settings = settings
        self.services = services
        self._runtime: WorkerRuntime | None = None

    def runtime(self) -> WorkerRuntime:
        if self._runtime is None:
            # Fan-out children are sent with this worker's own app: no second Celery app per pool process.
            dispatcher = CeleryDispatcher(self.settings, self.services.queues(), app=self.app)
            self._runtime = build_runtime(
                self.settings, self.services, events=event_publisher(self.settings), dispatch=dispatcher.send
            )
        return self._runtime


def _register_presence(
    settings: Settings, queues: list[str], extra: Callable[[], dict[str, Any] | None] | None = None
) -> None:
    """The worker's main process registers in the live worker registry once it is ready, beats while it
    runs and leaves at shutdown (its pool processes run the jobs; it is the server that holds them)."""
    from celery.signals import worker_ready, worker_shutdown

    from spt_api.db import create_job_store
    from workers.capabilities import capabilities_of
    from workers.presence import WorkerPresence

    holder: list[WorkerPresence] = []

    def ready(sender: Any = None, **_: Any) -> None:
        store = create_job_store(settings.effective_database_url, run_migrations=False, pool_size=1)
        worker_id = f"{getattr(sender, 'hostname', None) or socket.gethostname()}:{os.getpid()}"
        presence = WorkerPresence(
            store, worker_id, queues, capabilities_of(settings), settings.heartbeat_interval, extra=extra
        )
        holder.append(presence.start())

    def shutdown(**_: Any) -> None:
        for presence in holder:
            presence.stop()

    worker_ready.connect(ready, weak=False)
    worker_shutdown.connect(shutdown, weak=False)


def build_worker_app(
    settings: Settings,
    services: ServiceRegistry,
    queues: list[str] | None = None,
    extra: Callable[[], dict[str, Any] | None] | None = None,
) -> Celery:
    """The Celery app a worker runs: ``spt.run_job`` registered, its pool processes prepared at start;
    with ``queues`` (those it consumes), it registers in the live worker registry (``extra``: what it
    publishes there besides, e.g. the search shard it holds)."""
    from celery.exceptions import SoftTimeLimitExceeded
    from celery.signals import task_revoked, worker_process_init

    app = make_celery(settings)
    if settings.broker_url.startswith("redis://"):
        # kombu's Redis transport, less a client built per ack (see workers.kombu_redis); TLS and sentinel
        # brokers keep kombu's own.
        app.conf.broker_transport = TRANSPORT
    state = _WorkerState(app, settings, services)
    if queues is not None:
        _register_presence(settings, queues, extra)

    def prepare_pool_process(**_: Any) -> None:
        """Import the task code, build the runtime and open a database connection when a pool process
        starts, not inside its first job: that one would otherwise pay a third of a second for them."""
        import workers.tasks  # noqa: F401

        runtime = state.runtime()
        try:
            with runtime.store.engine.connect():
                pass
        except Exception as exc:  # the database may be down at start; the first job will say so
            log.warning("database not reachable at worker start: %s", exc)

    worker_process_init.connect(prepare_pool_process, weak=False)

    def remove_revoked_scratch(request: Any = None, terminated: bool = False, **_: Any) -> None:
        """ABORT and DELETE revoke a running job with SIGKILL: its pool process cannot remove its scratch
        directory, so this one (the worker's main process, on the same disk) does."""
        args = getattr(request, "args", None) or []
        if terminated and args:
            remove_job_scratch(settings, str(args[0]))

    task_revoked.connect(remove_revoked_scratch, weak=False)

    @app.task(name=RUN_JOB_TASK, bind=True)  # type: ignore[untyped-decorator]
    def run_job(self: Any, job_id: str, service: str | None = None, **message: Any) -> str | None:
        """Run the job ``job_id``; the rest of the message (service, parameters) is for people and tools
        reading the queue: the job store holds the truth, so messages from other versions still work."""
        from workers.tasks import execute_job

        phase = execute_job(job_id, state.runtime(), timeout_errors=(SoftTimeLimitExceeded,))
        return phase.value if phase else None

    return app
