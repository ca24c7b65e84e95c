"""The Celery application: one task, ``spt.run_job``, calling the shared task code.

Messages are JSON (job id, service, validated parameters) so an API and a worker
built from different versions still understand each other.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init

from spt_api.config import Settings, get_settings
from workers.runtime import WorkerRuntime, build_runtime

__all__ = ["RUN_JOB_TASK", "celery_app", "make_celery"]

RUN_JOB_TASK = "spt.run_job"


def make_celery(settings: Settings) -> Celery:
    app = Celery("spt", broker=settings.broker_url, backend=settings.result_backend_url or None)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        # A job is acknowledged only when it is over; a worker that dies hands it back.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue="echo",
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        # Fail a publish within seconds when the broker is down: the API answers 503, the reconciler resends.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1},
        broker_transport_options={"visibility_timeout": 6 * 3600, "socket_timeout": 5, "socket_connect_timeout": 3},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app


@lru_cache(maxsize=1)
def _runtime() -> WorkerRuntime:
    from spt_api.queue.celery_dispatcher import CeleryDispatcher

    # Fan-out children are sent with this worker's own app: no second Celery app per pool process.
    settings = get_settings()
    return build_runtime(settings, dispatch=CeleryDispatcher(settings, app=celery_app).send)


celery_app = make_celery(get_settings())


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _prepare_pool_process(**_: Any) -> None:
    """Import the task code, build the runtime and open a database connection when a pool process
    starts, not inside its first job: that one would otherwise pay a third of a second for them."""
    import workers.tasks  # noqa: F401

    runtime = _runtime()
    try:
        with runtime.store.engine.connect():
            pass
    except Exception as exc:  # the database may be down at start; the first job will say so
        import logging

        logging.getLogger(__name__).warning("database not reachable at worker start: %s", exc)


@celery_app.task(name=RUN_JOB_TASK, bind=True)  # type: ignore[untyped-decorator]
def run_job(self: Any, job_id: str, service: str | None = None, **message: Any) -> str | None:
    """Run the job ``job_id``; the rest of the message (service, parameters) is for people and tools
    reading the queue: the job store holds the truth, so messages from other versions still work."""
    # Imported here so the Celery app module stays importable without the task code's dependencies.
    from workers.tasks import execute_job

    phase = execute_job(job_id, _runtime(), timeout_errors=(SoftTimeLimitExceeded,))
    return phase.value if phase else None
