"""Dispatch to Celery workers over Redis (or RabbitMQ): one queue per service and capability."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from spt_api.config import Settings
from spt_api.queue.base import Dispatcher, new_task_id
from spt_api.queue.protocol import RUN_JOB_TASK, make_celery, task_message
from spt_api.queue.redis_broker import RedisTaskWriter, writes_directly
from spt_api.uws.models import Job

if TYPE_CHECKING:
    from celery import Celery

__all__ = ["CeleryDispatcher"]


class CeleryDispatcher(Dispatcher):
    def __init__(self, settings: Settings, queues: Sequence[str], app: Celery | None = None) -> None:
        """``queues``: every queue a job may be sent to (for depths); ``app``: a Celery app to send with
        (a worker's own); by default one is made from ``settings``."""
        self.settings = settings
        self.queues = list(queues)
        self.app = app or make_celery(settings)
        #: On a Redis broker, messages are pushed directly (see :mod:`spt_api.queue.redis_broker`).
        self.writer = (
            RedisTaskWriter(self.app, settings.broker_url)
            if writes_directly(self.app, settings.broker_url)
            else None
        )

    def send(self, job: Job) -> str | None:
        task_id = job.task_id or new_task_id(job.job_id)
        args, kwargs, options = task_message(job, job.queue, task_id)
        send_task = self.writer.send_task if self.writer is not None else self.app.send_task
        send_task(RUN_JOB_TASK, args=args, kwargs=kwargs, **options)
        return task_id

    def stop(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def abort(self, job: Job) -> None:
        if job.task_id:
            # SIGKILL: a job that ignores SIGTERM (native code in astropy/faiss) must still stop.
            self.app.control.revoke(job.task_id, terminate=True, signal="SIGKILL")

    def check(self) -> None:
        with self.app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)

    def queue_depths(self) -> dict[str, int]:
        depths: dict[str, int] = {}
        with self.app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            channel = conn.default_channel
            for queue in self.queues:
                try:
                    depths[queue] = channel.queue_declare(queue, passive=True).message_count
                except Exception:
                    depths[queue] = 0
        return depths
