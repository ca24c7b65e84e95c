"""A submitted job's QUEUED event and its task message go to Redis in one write when the event bus and
the broker are one Redis server (:mod:`spt_api.announced_send`), apart otherwise; a failed push still
leaves the job QUEUED and tells the client.

Redis's MONITOR shows what each connection ran, in the order Redis ran it: the PUBLISH on the broker's
connection (its db), then the LPUSH. The writes are counted at :class:`~spt_api.redis_direct.DirectRedis`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from spt_api.app import Backends
from spt_api.bootstrap import build_backends
from spt_api.config import Settings
from spt_api.events import RedisEventPublisher
from spt_api.redis_direct import DirectRedis
from spt_api.uws.errors import JobNotSentError
from spt_api.uws.phases import ExecutionPhase
from tests.support.principals import ANONYMOUS, SYSTEM
from tests.support.redisserver import PrivateRedis
from tests.support.server import running_backends

RUN = [("message", "x"), ("PHASE", "RUN")]


@pytest.fixture
def other_redis() -> Iterator[PrivateRedis]:
    with PrivateRedis() as server:
        yield server


def _backends(tmp_path: Path, broker_url: str, redis_url: str = "") -> AbstractAsyncContextManager[Backends]:
    settings = Settings(data_dir=tmp_path, broker_url=broker_url, redis_url=redis_url, reconcile_interval=0)
    return running_backends(settings)


@contextmanager
def _writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The command count of each batch any DirectRedis writes, while in the block."""
    batches: list[int] = []
    send = DirectRedis._send

    def counted(self: DirectRedis, commands: Any, **kwargs: Any) -> list[Any]:
        batches.append(len(commands))
        return send(self, commands, **kwargs)

    monkeypatch.setattr(DirectRedis, "_send", counted)
    try:
        yield batches
    finally:
        monkeypatch.setattr(DirectRedis, "_send", send)


@contextmanager
def _monitored(*servers: PrivateRedis) -> Iterator[Callable[[], list[tuple[int, str, int, str]]]]:
    """What each server ran from the block's start until the returned function is called: (server's
    index, client address, db, command name), for the PUBLISHes and LPUSHes, in the order run."""
    clients = [redis.Redis.from_url(server.url, socket_timeout=10) for server in servers]
    monitors = [client.monitor() for client in clients]  # type: ignore[no-untyped-call]
    for monitor in monitors:
        monitor.__enter__()

    def ran() -> list[tuple[int, str, int, str]]:
        seen: list[tuple[int, str, int, str]] = []
        for index, (client, monitor) in enumerate(zip(clients, monitors, strict=True)):
            client.echo("end-of-test")  # the last command: read up to it, no waiting on a timer
            while "end-of-test" not in (command := monitor.next_command())["command"]:
                name = command["command"].split(" ", 1)[0].upper()
                if name in ("PUBLISH", "LPUSH"):
                    seen.append((index, f"{command['client_address']}:{command['client_port']}", command["db"], name))
        return seen

    try:
        yield ran
    finally:
        for client, monitor in zip(clients, monitors, strict=True):
            monitor.__exit__(None, None, None)
            client.close()


async def test_one_redis_gets_the_event_and_the_message_in_one_write(
    tmp_path: Path, private_redis: PrivateRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events on db 0, the broker on db 3 of the same server: still one write (PUBLISH ignores the db)."""
    async with _backends(tmp_path, private_redis.url_for(3), private_redis.url_for(0)) as backends:
        listener = redis.Redis.from_url(private_redis.url).pubsub()  # type: ignore[no-untyped-call]
        listener.psubscribe("spt:job:*")
        assert listener.get_message(timeout=5)["type"] == "psubscribe"
        with _monitored(private_redis) as ran, _writes(monkeypatch) as batches:
            job = await backends.jobs.create(ANONYMOUS, "echo", RUN)
            commands = ran()
        assert batches == [2]
        # In this order, on one connection: the broker's (db 3), as the message was.
        assert [(db, name) for _, _, db, name in commands] == [(3, "PUBLISH"), (3, "LPUSH")]
        assert len({address for _, address, _, _ in commands}) == 1
        event = listener.get_message(timeout=5)
        listener.close()
        assert event is not None and event["channel"] == f"spt:job:{job.job_id}".encode()
        assert b'"QUEUED"' in event["data"]
        assert redis.Redis.from_url(private_redis.url_for(3)).llen("echo") == 1


async def test_two_redis_servers_get_the_event_and_the_message_apart(
    tmp_path: Path, private_redis: PrivateRedis, other_redis: PrivateRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _backends(tmp_path, private_redis.url_for(4), other_redis.url) as backends:
        assert backends.jobs.announced_send is None
        with _monitored(private_redis, other_redis) as ran, _writes(monkeypatch) as batches:
            await backends.jobs.create(ANONYMOUS, "echo", RUN)
            commands = ran()
        assert batches == [1, 1]
        assert {(server, name) for server, _, _, name in commands} == {(1, "PUBLISH"), (0, "LPUSH")}


@pytest.mark.parametrize(
    ("broker_url", "events"),
    [("memory://", ""), ("amqp://guest:guest@127.0.0.1:5672//", "redis")],
    ids=["embedded", "rabbitmq-broker"],
)
def test_without_a_redis_broker_the_event_goes_apart(
    tmp_path: Path, private_redis: PrivateRedis, broker_url: str, events: str
) -> None:
    """Built only (the RabbitMQ broker is not reached): the service then publishes, then sends, as before."""
    settings = Settings(data_dir=tmp_path, broker_url=broker_url, redis_url=private_redis.url if events else "")
    backends = build_backends(settings)
    try:
        assert backends.jobs.announced_send is None
    finally:
        backends.jobs.dispatcher.stop()
        backends.jobs.close()


def test_same_server_ignores_the_db_only() -> None:
    base = DirectRedis("redis://:secret@10.0.0.1:6379/0")
    assert base.same_server(DirectRedis("redis://:secret@10.0.0.1:6379/14"))
    for other in (
        "redis://:secret@10.0.0.2:6379/0",
        "redis://:secret@10.0.0.1:6380/0",
        "redis://:other@10.0.0.1:6379/0",
        "redis://user:secret@10.0.0.1:6379/0",
        "rediss://:secret@10.0.0.1:6379/0",
        "unix:///tmp/redis.sock?db=0",
    ):
        assert not base.same_server(DirectRedis(other)), other
    assert not DirectRedis("rediss://h:1/0?ssl_cert_reqs=none").same_server(DirectRedis("rediss://h:1/0"))


async def test_a_refused_push_leaves_the_job_queued_and_its_event_out(
    tmp_path: Path, private_redis: PrivateRedis
) -> None:
    """Redis refuses the LPUSH alone (the queue's key holds a string): the event, written before it in the
    same batch, is out; the job stays QUEUED and the client learns that it is not sent."""
    broker = private_redis.url_for(5)
    redis.Redis.from_url(broker).set("echo", "not a list")
    async with _backends(tmp_path, broker) as backends:
        assert backends.jobs.announced_send is not None
        listener = redis.Redis.from_url(private_redis.url).pubsub()  # type: ignore[no-untyped-call]
        listener.psubscribe("spt:job:*")
        assert listener.get_message(timeout=5)["type"] == "psubscribe"
        with pytest.raises(JobNotSentError, match="WRONGTYPE") as raised:
            await backends.jobs.create(ANONYMOUS, "echo", RUN)
        job_id = raised.value.job_id
        assert isinstance(raised.value.__cause__, redis.ResponseError)
        stored = backends.jobs.store.get(SYSTEM, job_id)
        assert stored is not None and stored.phase == ExecutionPhase.QUEUED
        event = listener.get_message(timeout=5)
        listener.close()
        assert event is not None and event["channel"] == f"spt:job:{job_id}".encode()


async def test_an_unreachable_redis_fails_the_send_and_logs_the_event(
    tmp_path: Path, own_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    async with _backends(tmp_path, own_redis.url_for(6)) as backends:
        assert backends.jobs.announced_send is not None
        own_redis.stop()
        with pytest.raises(JobNotSentError, match="queue is unreachable"):
            await backends.jobs.create(ANONYMOUS, "echo", RUN)
        assert "event not published" in caplog.text
        own_redis.start()  # for the backends' shutdown


def test_a_refused_publish_does_not_fail_the_send(caplog: pytest.LogCaptureFixture) -> None:
    """Redis refuses the PUBLISH alone (this one has no such command): the event is logged as lost, the
    message written after it in the same batch still goes out."""
    from spt_api.announced_send import AnnouncedSend
    from spt_api.events.messages import phase_event
    from spt_api.queue.celery_dispatcher import CeleryDispatcher
    from tests.durability.test_task_messages import _job

    with PrivateRedis(extra_args=["--rename-command", "PUBLISH", ""]) as server:
        broker = server.url_for(7)
        publisher = RedisEventPublisher(broker)
        dispatcher = CeleryDispatcher(Settings(broker_url=broker), ["echo"])
        send = AnnouncedSend.between(publisher, dispatcher.writer)
        assert send is not None
        job = _job("j-publish-refused")
        try:
            send(job, phase_event(job))
            assert redis.Redis.from_url(broker).llen("echo") == 1
            assert "event not published" in caplog.text and "unknown command" in caplog.text
        finally:
            dispatcher.stop()
            publisher.close()
