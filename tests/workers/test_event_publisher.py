"""The workers' Redis event publisher: one connection of its own, made again after Redis restarts, and
a Redis that is down costs the event (with a warning), never the job."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from spt_api.events import JobEvent, RedisEventPublisher
from spt_api.events.redis_bus import CHANNEL_PREFIX
from tests.support.redisserver import PrivateRedis

EVENT = JobEvent(type="progress", phase="EXECUTING", job_id="j1", service="echo", done=1, total=2, message="é")


@pytest.fixture
def server() -> Iterator[PrivateRedis]:
    with PrivateRedis() as srv:
        yield srv


class Listener:
    def __init__(self, url: str) -> None:
        self.pubsub = redis.Redis.from_url(url).pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(CHANNEL_PREFIX + "j1")
        # Subscribed once the server has confirmed it: a publish before that would be lost.
        deadline = time.monotonic() + 5
        while not self.pubsub.subscribed and time.monotonic() < deadline:
            self.pubsub.get_message(timeout=0.1)

    def next(self) -> bytes:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            message = self.pubsub.get_message(timeout=0.5)
            if message is not None:
                return bytes(message["data"])
        raise AssertionError("no event arrived")

    def close(self) -> None:
        self.pubsub.close()


@pytest.fixture
def listened(server: PrivateRedis) -> Iterator[tuple[Listener, RedisEventPublisher]]:
    """A listener subscribed to j1's channel, and a publisher, on the server."""
    listener = Listener(server.url)
    publisher = RedisEventPublisher(server.url)
    try:
        yield listener, publisher
    finally:
        publisher.close()
        listener.close()


def test_events_arrive_as_the_events_json(listened: tuple[Listener, RedisEventPublisher]) -> None:
    listener, publisher = listened
    for _ in range(3):
        publisher.publish("j1", EVENT)
        assert listener.next() == EVENT.to_json()


def test_a_batch_arrives_whole_and_in_order(listened: tuple[Listener, RedisEventPublisher]) -> None:
    """publish_many (a job's held start with its end) sends its events in order, in one round trip."""
    listener, publisher = listened
    started = JobEvent(type="phase", phase="EXECUTING", job_id="j1")
    ended = JobEvent(type="phase", phase="COMPLETED", job_id="j1", duration=0.001)
    publisher.publish_many([("j1", started), ("j1", ended)])
    assert [listener.next(), listener.next()] == [started.to_json(), ended.to_json()]


def test_the_first_event_after_a_redis_restart_gets_through(
    server: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = RedisEventPublisher(server.url)
    publisher.publish("j1", EVENT)  # the connection is made
    server.stop()
    server.start()
    listener = Listener(server.url)
    try:
        with caplog.at_level(logging.WARNING, logger="spt_api.events.redis_bus"):
            publisher.publish("j1", EVENT)
        assert listener.next() == EVENT.to_json()
        assert "event not published" not in caplog.text
    finally:
        publisher.close()
        listener.close()


def test_a_redis_that_is_down_loses_the_event_with_a_warning(
    server: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = RedisEventPublisher(server.url)
    publisher.publish("j1", EVENT)
    server.stop()
    with caplog.at_level(logging.WARNING, logger="spt_api.events.redis_bus"):
        publisher.publish("j1", EVENT)  # does not raise
    assert "event not published" in caplog.text
    server.start()
    listener = Listener(server.url)
    try:
        publisher.publish("j1", EVENT)  # and it is back once Redis is
        assert listener.next() == EVENT.to_json()
    finally:
        publisher.close()
        listener.close()


def test_threads_publish_on_connections_of_their_own(server: PrivateRedis) -> None:
    listener = Listener(server.url)
    publisher = RedisEventPublisher(server.url)
    published = threading.Barrier(4)
    counted = threading.Event()

    def publish() -> None:
        publisher.publish("j1", EVENT)
        published.wait(timeout=10)
        counted.wait(timeout=10)  # alive (and holding its connection) until counted

    threads = [threading.Thread(target=publish) for _ in range(3)]
    try:
        publisher.publish("j1", EVENT)
        for thread in threads:
            thread.start()
        published.wait(timeout=10)
        # One per thread that published (the API publishes from its pool threads at once).
        assert len(publisher._redis._all) == 4
        counted.set()
        assert [listener.next() for _ in range(4)] == [EVENT.to_json()] * 4
    finally:
        counted.set()
        for thread in threads:
            thread.join()
        publisher.close()
        listener.close()
