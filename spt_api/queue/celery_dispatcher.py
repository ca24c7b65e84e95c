"""Dispatch to Celery workers over Redis (or RabbitMQ): one queue per service and capability."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spt_api.config import Settings
from spt_api.queue.base import Dispatcher, new_task_id
from spt_api.uws.models import Job
from workers.services import get_service

if TYPE_CHECKING:
    from celery import Celery

__all__ = ["HARD_LIMIT_GRACE", "CeleryDispatcher"]

#: Seconds between the soft time limit (the job is told to stop) and the hard one (it is killed).
HARD_LIMIT_GRACE = 10


class CeleryDispatcher(Dispatcher):
    def __init__(self, settings: Settings, app: Celery | None = None) -> None:
        """``app``: a Celery app to send with (a worker's own); by default one is made from ``settings``."""
        from workers.celery_app import make_celery

        self.settings = settings
        self.app = app or make_celery(settings)

    def send(self, job: Job) -> str | None:
        from workers.celery_app import RUN_JOB_TASK

        spec = get_service(job.service)
        queue = spec.queue if spec else job.service
        task_id = job.task_id or new_task_id(job.job_id)
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
        self.app.send_task(RUN_JOB_TASK, args=[job.job_id], kwargs={"service": job.service, "parameters": parameters},
                           **options)
        return task_id

    def abort(self, job: Job) -> None:
        if job.task_id:
            # SIGKILL: a job that ignores SIGTERM (native code in astropy/faiss) must still stop.
            self.app.control.revoke(job.task_id, terminate=True, signal="SIGKILL")

    def check(self) -> None:
        with self.app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)

    def queue_depths(self) -> dict[str, int]:
        from workers.services import services

        depths: dict[str, int] = {}
        with self.app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            channel = conn.default_channel
            for spec in services().values():
                try:
                    depths[spec.queue] = channel.queue_declare(spec.queue, passive=True).message_count
                except Exception:
                    depths[spec.queue] = 0
        return depths
