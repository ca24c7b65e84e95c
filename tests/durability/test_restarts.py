"""Restarts of Redis (broker and events) and PostgreSQL while jobs run: nothing is lost.

The private ``redis-server`` keeps nothing across a restart, so the messages of queued jobs
vanish with it; the reconciler finds those QUEUED jobs and sends them again. A PostgreSQL
restart drops every pooled connection; workers and the API reconnect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spt_api.db import create_job_store
from spt_api.db.migrate import migrate
from tests.durability.stack import Stack, get_job, wait_all_final, wait_for
from tests.support.celery_worker import CeleryWorker
from tests.support.pgserver import PrivatePostgres
from tests.support.principals import ANONYMOUS, SYSTEM
from tests.support.redisserver import PrivateRedis
from tests.support.s3server import SeaweedS3
from tests.support.server import RunningServer

# The blob (8 KiB, above SPT_API_INLINE_RESULT_MAX) goes to the storage; the message is kept with the job.
JOB = {"delay": 1.5, "steps": 3, "size": 8192}


def _submit(server: RunningServer, count: int, label: str) -> list[str]:
    return [server.create_job("echo", run=True, message=f"{label} {i}", **JOB) for i in range(count)]


def _assert_all_completed(stack: Stack, jobs: dict[str, dict[str, Any]]) -> None:
    phases = {job["jobId"]: job["phase"] for job in jobs.values()}
    errors = {job["jobId"]: job.get("errorSummary") for job in jobs.values() if job["phase"] != "COMPLETED"}
    assert set(phases.values()) == {"COMPLETED"}, (phases, errors)
    for job in jobs.values():
        assert sorted(r["id"] for r in job["results"]) == ["blob", "message"]
        assert stack.keys(job["jobId"]) == [f"echo/{job['jobId']}/blob"]


def _submit_more_and_assert_all_completed(
    stack: Stack, server: RunningServer, worker: CeleryWorker, urls: list[str]
) -> None:
    """After the restart: two more jobs, then every job ends COMPLETED with its results stored once."""
    urls = urls + _submit(server, 2, "after")
    jobs = wait_all_final(server, urls, timeout=90)
    try:
        _assert_all_completed(stack, jobs)
    except AssertionError:
        print(worker.log_tail())
        raise


def test_redis_restart_while_jobs_run(
    make_stack: Callable[..., Stack], machine_db: str, own_redis: PrivateRedis, durability_s3: SeaweedS3
) -> None:
    stack = make_stack(machine_db, own_redis.url, durability_s3)
    server = stack.server()
    worker = stack.worker()
    urls = _submit(server, 6, "before")
    wait_for(lambda: get_job(server, urls[0])["phase"] == "EXECUTING", 30, "first job running")

    own_redis.stop(kill=True)  # a crash: queued messages are gone with it
    own_redis.start()

    _submit_more_and_assert_all_completed(stack, server, worker, urls)


def test_postgres_restart_while_jobs_run(
    make_stack: Callable[..., Stack], own_postgres: PrivatePostgres, private_redis: PrivateRedis,
    durability_s3: SeaweedS3,
) -> None:
    database_url = own_postgres.create_database("spt")
    migrate(database_url)
    stack = make_stack(database_url, private_redis.url_for(1), durability_s3)
    server = stack.server()
    worker = stack.worker()
    urls = _submit(server, 6, "before")
    wait_for(lambda: get_job(server, urls[0])["phase"] == "EXECUTING", 30, "first job running")

    own_postgres.stop(kill=True)  # immediate shutdown: every connection is cut
    with server.client() as client:
        response = client.get(urls[1], headers={"Accept": "application/json"})
    assert response.status_code == 503, response.text
    assert "database" in response.json()["message"]
    own_postgres.start()

    _submit_more_and_assert_all_completed(stack, server, worker, urls)


def test_the_store_reconnects_without_an_error_after_a_postgres_restart(own_postgres: PrivatePostgres) -> None:
    """A pooled connection killed by the restart is found dead by its statement; the store tries once more."""
    database_url = own_postgres.create_database("store")
    migrate(database_url)
    store = create_job_store(database_url, run_migrations=False, pool_size=1)
    try:
        job = store.create(ANONYMOUS, service="echo", parameters=[("message", "x")], execution_duration=60,
                           destruction_time=None, queued=True)
        assert store.get(SYSTEM, job.job_id) is not None  # the pool now holds one open connection

        # A clean restart (this server runs with synchronous_commit=off: a kill could lose the job itself),
        # which still cuts every connection.
        own_postgres.stop()
        own_postgres.start()

        claimed = store.claim(SYSTEM, job.job_id, "worker-1")  # used at once: too fresh for the idle ping
        assert claimed is not None and claimed.phase.value == "EXECUTING"
        assert store.heartbeat(SYSTEM, job.job_id, "worker-1")
    finally:
        store.engine.dispose()
