"""A job's QUEUED event and its task message in one Redis round trip, when one Redis is both the event
bus and the broker (the default: the events go to the broker's Redis unless ``redis_url`` says otherwise).

Sent apart, the PUBLISH and the LPUSH each cost a submission a round trip (about 0.2 ms of a 2 ms POST).
Written together, on the broker's connection, Redis runs them in order: the QUEUED event still goes out
before any worker can take the message (and publish what follows). Pub/sub channels are server-wide, so
a connection that SELECTed the broker's db publishes to the same subscribers as the event bus's own.
The job is stored before either is written, as when they are sent apart.
"""

from __future__ import annotations

from typing import Any

import redis

from spt_api.events import JobEvent, RedisEventPublisher
from spt_api.queue.base import new_task_id
from spt_api.queue.protocol import RUN_JOB_TASK, task_message
from spt_api.queue.redis_broker import RedisTaskWriter
from spt_api.redis_direct import LoopRedis
from spt_api.uws.models import Job

__all__ = ["AnnouncedSend"]


class AnnouncedSend:
    """Publishes a stored QUEUED job's event and pushes its task message in one write.

    Fails as the two steps apart do: an event that is not published is logged (the job is stored, a WAIT
    re-reads it), a message that is not pushed raises (the job stays QUEUED and is sent again later).
    """

    def __init__(self, publisher: RedisEventPublisher, writer: RedisTaskWriter) -> None:
        self.publisher = publisher
        self.writer = writer
        #: The event loop's own connection, for :meth:`send_async` (made on first use).
        self._loop_redis: LoopRedis | None = None

    @classmethod
    def between(cls, publisher: RedisEventPublisher, writer: RedisTaskWriter | None) -> AnnouncedSend | None:
        """One for ``publisher`` and ``writer`` when they reach the same Redis server, else None (the event
        and the message then go apart: PUBLISH on the bus's server, LPUSH on the broker's)."""
        if writer is None or not publisher.redis.same_server(writer.redis):
            return None
        return cls(publisher, writer)

    def _commands(self, job: Job, event: JobEvent) -> list[tuple[Any, ...]]:
        """The PUBLISH of ``event``, then the LPUSH of ``job``'s message."""
        publish = self.publisher.command(job.job_id, event)
        try:
            args, kwargs, options = task_message(job, job.queue, job.task_id or new_task_id(job.job_id))
            push = self.writer.command(RUN_JOB_TASK, args=args, kwargs=kwargs, **options)
        except Exception:
            # As apart: the event is out before a message that cannot be made fails the send.
            self.publisher.publish_many([(job.job_id, event)])
            raise
        return [publish, push]

    def _settle(self, job: Job, event: JobEvent, answers: list[Any]) -> None:
        published, pushed = answers
        if isinstance(published, redis.ResponseError):
            self.publisher.lost([(job.job_id, event)], published)
        if isinstance(pushed, redis.ResponseError):
            raise pushed

    async def send_async(self, job: Job, event: JobEvent) -> None:
        """:meth:`__call__` from the event loop (the same batch, on the loop's own connection)."""
        if self._loop_redis is None:
            self._loop_redis = LoopRedis(self.writer.redis)
        commands = self._commands(job, event)
        try:
            answers = await self._loop_redis.execute_each(commands)
        except redis.RedisError as exc:  # Redis unreachable: neither went out
            self.publisher.lost([(job.job_id, event)], exc)
            raise
        self._settle(job, event, answers)

    async def close_async(self) -> None:
        if self._loop_redis is not None:
            await self._loop_redis.close()

    def __call__(self, job: Job, event: JobEvent) -> None:
        """Announce ``event`` (the job's QUEUED event), then send ``job``; raises what a failed send raised.

        A batch whose connection was lost is sent again once (see
        :meth:`~spt_api.redis_direct.DirectRedis.execute_each`), so the event and the message may both
        go out twice, as a lone LPUSH retried may today: a repeated QUEUED event only wakes a WAIT that
        re-reads the job, and a repeated message finds the job claimed (a worker claims only a QUEUED job).
        """
        commands = self._commands(job, event)
        try:
            answers = self.writer.redis.execute_each(commands)
        except redis.RedisError as exc:  # Redis unreachable: neither went out
            self.publisher.lost([(job.job_id, event)], exc)
            raise
        self._settle(job, event, answers)
