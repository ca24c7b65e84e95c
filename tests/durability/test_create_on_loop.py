"""On PostgreSQL with one Redis for events and broker, a plain submission is stored and sent by coroutines on
the event loop (:meth:`JobService._create_on_loop`), with no trip to the thread pool; whatever the loop
cannot do (a lost connection, a database down, Redis down) ends as the thread path ends, and no job is
lost or left unsent without the client being told.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from spt_api.app import Backends
from spt_api.config import Settings
from spt_api.db.migrate import sqlalchemy_url
from spt_api.job_service import JobService
from spt_api.uws.errors import JobNotSentError
from spt_api.uws.phases import ExecutionPhase
from tests.support.principals import ANONYMOUS, SYSTEM
from tests.support.redisserver import PrivateRedis
from tests.support.server import running_backends

RUN = [("message", "x"), ("PHASE", "RUN")]


def _backends(tmp_path: Path, database_url: str, redis_url: str) -> AbstractAsyncContextManager[Backends]:
    settings = Settings(
        data_dir=tmp_path, database_url=database_url, broker_url=redis_url, redis_url=redis_url, reconcile_interval=0
    )
    return running_backends(settings, run_migrations=False)


def _count_pool_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    trips: list[str] = []
    create_and_send = JobService._create_and_send

    def counted(self: JobService, *args: Any, **kwargs: Any) -> Any:
        trips.append(kwargs["job_id"])
        return create_and_send(self, *args, **kwargs)

    monkeypatch.setattr(JobService, "_create_and_send", counted)
    return trips


def _queued_messages(redis_url: str) -> int:
    return int(redis.Redis.from_url(redis_url).llen("echo"))


async def test_a_plain_submission_is_stored_and_sent_from_the_loop(
    tmp_path: Path, machine_db: str, private_redis: PrivateRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = private_redis.url_for(5)
    redis.Redis.from_url(url).flushdb()
    trips = _count_pool_trips(monkeypatch)
    async with _backends(tmp_path, machine_db, url) as backends:
        before = _queued_messages(url)  # the jobs of earlier tests in this database, sent again at start
        job = await backends.jobs.create(ANONYMOUS, "echo", RUN)
        assert trips == []  # neither the INSERT nor the send went through the thread pool
        stored = backends.jobs.store.get(SYSTEM, job.job_id)
        assert stored is not None and stored.phase == ExecutionPhase.QUEUED and stored.task_id == job.task_id
        assert stored.parameters == (("message", "x"),)
        assert _queued_messages(url) == before + 1
        # An Idempotency-Key (looked up first) takes the thread path, as before.
        keyed = await backends.jobs.create(ANONYMOUS, "echo", RUN, idempotency_key="k-1")
        assert trips == [keyed.job_id]
        assert _queued_messages(url) == before + 2


async def test_a_lost_loop_connection_falls_back_then_is_replaced(
    tmp_path: Path, machine_db: str, private_redis: PrivateRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = private_redis.url_for(6)
    redis.Redis.from_url(url).flushdb()
    trips = _count_pool_trips(monkeypatch)
    dsn = str(sqlalchemy_url(machine_db)).replace("postgresql+psycopg://", "postgresql://")
    async with _backends(tmp_path, machine_db, url) as backends:
        before = _queued_messages(url)
        await backends.jobs.create(ANONYMOUS, "echo", RUN)
        with psycopg.connect(dsn, autocommit=True) as admin:  # the loop's connection is killed by the server
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'INSERT INTO jobs%%'"
            )
        second = await backends.jobs.create(ANONYMOUS, "echo", RUN)  # the loop's INSERT fails: the pool's does it
        assert trips == [second.job_id]
        third = await backends.jobs.create(ANONYMOUS, "echo", RUN)  # a new loop connection
        assert trips == [second.job_id]
        for job in (second, third):
            stored = backends.jobs.store.get(SYSTEM, job.job_id)
            assert stored is not None and stored.phase == ExecutionPhase.QUEUED
        assert _queued_messages(url) == before + 3


async def test_redis_down_leaves_the_job_queued_and_says_so(
    tmp_path: Path, machine_db: str, own_redis: PrivateRedis
) -> None:
    async with _backends(tmp_path, machine_db, own_redis.url) as backends:
        await backends.jobs.create(ANONYMOUS, "echo", RUN)  # the loop's Redis connection is open
        own_redis.stop()
        try:
            with pytest.raises(JobNotSentError) as raised:
                await backends.jobs.create(ANONYMOUS, "echo", RUN)
            job_id = raised.value.job_id
            assert job_id is not None
            stored = backends.jobs.store.get(SYSTEM, job_id)
            assert stored is not None and stored.phase == ExecutionPhase.QUEUED  # the reconciler sends it later
        finally:
            own_redis.start()
        # Redis back: the loop's connection is made again.
        await backends.jobs.create(ANONYMOUS, "echo", RUN)
        assert _queued_messages(own_redis.url) >= 1  # Redis keeps nothing across its restart: this one
