"""The Celery messages the dispatcher pushes onto a Redis broker are the ones ``send_task`` would publish.

:class:`~spt_api.queue.redis_broker.RedisTaskWriter` writes kombu's Redis-transport document itself
(one LPUSH instead of ``send_task``'s producer machinery); a worker must not be able to tell.
Every Celery-backed test runs its jobs through it; these pin the format and the failure path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis

from spt_api.config import Settings
from spt_api.queue.celery_dispatcher import CeleryDispatcher
from spt_api.queue.protocol import RUN_JOB_TASK, make_celery, task_message
from spt_api.queue.redis_broker import writes_directly
from spt_api.uws.models import Job, utcnow
from spt_api.uws.phases import ExecutionPhase
from tests.support.redisserver import PrivateRedis


def _job(job_id: str, duration: int = 60, parameters: tuple[tuple[str, str], ...] = (("message", "x"),)) -> Job:
    return Job(
        job_id=job_id,
        service="echo",
        owner=None,
        phase=ExecutionPhase.QUEUED,
        parameters=parameters,
        creation_time=utcnow(),
        execution_duration=duration,
        destruction_time=None,
        queue="echo",
        task_id=f"{job_id}-task",
    )


@pytest.fixture
def broker() -> Iterator[str]:
    with PrivateRedis() as server:
        yield server.url_for(3)


def _queued(url: str, queue: str) -> list[dict[str, object]]:
    client = redis.Redis.from_url(url)
    try:
        return [json.loads(raw) for raw in reversed(client.lrange(queue, 0, -1))]
    finally:
        client.close()


@pytest.mark.parametrize(
    "job",
    [
        _job("j-limits"),
        _job("j-unlimited", duration=0),
        _job("j-many", parameters=(("pos", "CIRCLE 1 2 0.1"), ("pos", "CIRCLE 3 4 0.1"), ("message", "é\"'"))),
    ],
    ids=["time-limits", "no-limit", "repeated-and-quoted"],
)
def test_pushed_message_is_what_send_task_publishes(broker: str, job: Job) -> None:
    settings = Settings(broker_url=broker)
    dispatcher = CeleryDispatcher(settings, ["echo"])
    assert dispatcher.writer is not None
    args, kwargs, options = task_message(job, "echo", job.task_id or "")
    dispatcher.app.send_task(RUN_JOB_TASK, args=args, kwargs=kwargs, **options)
    dispatcher.send(job)
    dispatcher.stop()
    theirs, ours = _queued(broker, "echo")
    # The delivery tag is a fresh uuid4 per message, in both.
    for message in (theirs, ours):
        properties = message["properties"]
        assert isinstance(properties, dict)
        assert len(str(properties.pop("delivery_tag"))) == 36
    assert ours == theirs


def test_only_plain_redis_brokers_are_written_directly() -> None:
    app = make_celery(Settings(broker_url="redis://127.0.0.1:6379/0"))
    assert writes_directly(app, "redis://127.0.0.1:6379/0")
    assert writes_directly(app, "rediss://example:6380/1")
    assert not writes_directly(app, "amqp://guest:guest@127.0.0.1:5672//")
    assert not writes_directly(app, "sentinel://127.0.0.1:26379")
    app.conf.broker_transport_options = {"global_keyprefix": "spt:"}
    assert not writes_directly(app, "redis://127.0.0.1:6379/0")


def test_a_broker_that_is_down_fails_the_send(broker: str) -> None:
    """The caller learns (the job stays QUEUED, the API answers 503, the reconciler sends it later)."""
    settings = Settings(broker_url="redis://127.0.0.1:1/0")
    dispatcher = CeleryDispatcher(settings, ["echo"])
    with pytest.raises(redis.ConnectionError):
        dispatcher.send(_job("j-down"))
