"""The Celery task protocol, shared by the API (which sends) and the workers (which run).

Neutral ground: both sides import this module and neither imports the other.
It holds the task's name, the JSON message a job becomes, and a config-only
Celery app factory (no tasks registered, nothing built at import).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spt_api.config import Settings
from spt_api.uws.models import Job

if TYPE_CHECKING:
    from celery import Celery

__all__ = ["HARD_LIMIT_GRACE", "RUN_JOB_TASK", "make_celery", "task_message"]

#: The one task: run the job whose id is its argument.
RUN_JOB_TASK = "spt.run_job"
#: Seconds between the soft time limit (the job is told to stop) and the hard one (it is killed).
HARD_LIMIT_GRACE = 10


def make_celery(settings: Settings) -> Celery:
    """A Celery app configured for spt-api's broker; the worker registers its task on it."""
    from celery import Celery

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


def task_message(job: Job, queue: str, task_id: str) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
    """``(args, kwargs, options)`` of ``send_task(RUN_JOB_TASK, ...)`` for ``job``: JSON only (no pickle), so
    an API and a worker built from different versions still understand each other."""
    options: dict[str, Any] = {"queue": queue, "task_id": task_id}
    if job.execution_duration > 0:
        options["soft_time_limit"] = job.execution_duration
        options["time_limit"] = job.execution_duration + HARD_LIMIT_GRACE
    # The parameters were validated when the job was created; sending them as stored (JSON pairs) costs
    # nothing per dispatch, where validating a 10,000-position table again would not.
    parameters = [list(pair) for pair in job.parameters]
    # Celery would otherwise saferepr() the arguments for the headers that `celery inspect` and Flower
    # show: a tenth of a millisecond per job, more for an uploaded table; the job id says it all.
    options["argsrepr"] = repr([job.job_id])
    options["kwargsrepr"] = f"{{'service': {job.service!r}, 'parameters': <{len(parameters)} pairs>}}"
    return [job.job_id], {"service": job.service, "parameters": parameters}, options
