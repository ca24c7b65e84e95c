"""ABORT, executionDuration and destruction on the Celery backend, with real worker processes."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from spt_api.db import JobStore, create_job_store
from tests.durability.stack import Stack, get_job, post_form, wait_for
from tests.support.principals import SYSTEM
from tests.support.redisserver import PrivateRedis
from tests.support.s3server import SeaweedS3
from tests.support.server import RunningServer


@pytest.fixture
def stack(
    make_stack: Callable[..., Stack], machine_db: str, private_redis: PrivateRedis, durability_s3: SeaweedS3
) -> Stack:
    return make_stack(machine_db, private_redis.url, durability_s3)


@pytest.fixture
def store(machine_db: str) -> Iterator[JobStore]:
    store = create_job_store(machine_db, run_migrations=False, pool_size=1)
    yield store
    store.engine.dispose()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child stays a zombie until the worker reaps it; a zombie has stopped running.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def _worker_pid(store: JobStore, job_id: str) -> int:
    job = store.get(SYSTEM, job_id)
    assert job is not None and job.worker_id
    return int(job.worker_id.rsplit(":", 1)[1])


def _running(server: RunningServer, **params: object) -> tuple[str, str]:
    url = server.create_job("echo", run=True, **params)
    wait_for(lambda: get_job(server, url)["phase"] == "EXECUTING", 30, "job running")
    return url, url.rsplit("/", 1)[1]


def test_abort_terminates_a_running_job_and_the_worker_keeps_serving(stack: Stack, store: JobStore) -> None:
    server = stack.server()
    worker = stack.worker()
    url, job_id = _running(server, delay=60, steps=60)
    pid = _worker_pid(store, job_id)
    assert _pid_alive(pid)

    started = time.monotonic()
    with server.client() as client:
        response = post_form(client, url + "/phase", PHASE="ABORT")
    assert response.status_code == 303, response.text
    job = get_job(server, url)
    assert job["phase"] == "ABORTED"
    # revoke(terminate=True, SIGKILL): the pool process running the job is gone in moments.
    wait_for(lambda: not _pid_alive(pid), 10, f"job process {pid} killed", interval=0.05)
    print(f"abort to process gone: {time.monotonic() - started:.2f} s")
    assert time.monotonic() - started < 5

    # It stays ABORTED (a redelivered message finds nothing to claim) and left no results.
    assert get_job(server, url)["phase"] == "ABORTED"
    assert stack.keys(job_id) == []

    # The worker replaced its pool process and runs the next job.
    again = server.create_job("echo", run=True, message="after abort")
    finished = server.wait_final(again, timeout=30)
    assert finished["phase"] == "COMPLETED", (finished, worker.log_tail())
    assert get_job(server, url)["phase"] == "ABORTED"


def test_execution_duration_is_a_soft_time_limit(stack: Stack, store: JobStore) -> None:
    server = stack.server()
    stack.worker()
    url = server.create_job("echo", run=True, EXECUTIONDURATION=2, delay=60, steps=60)
    started = time.monotonic()
    job = server.wait_final(url, timeout=30)
    elapsed = time.monotonic() - started
    assert job["phase"] == "ABORTED", job
    assert job["executionDuration"] == 2
    message = job["errorSummary"]["message"]
    assert "executionDuration" in message and "2 s" in message, message
    assert elapsed < 10, f"aborted only after {elapsed:.1f} s"
    assert stack.keys(job["jobId"]) == []
    # The XML document says the same (UWS §2.1.4: the job is aborted when it overruns).
    with server.client() as client:
        xml = client.get(url, headers={"Accept": "application/xml"}).text
    assert "ABORTED" in xml and "executionDuration" in xml


def test_cleanup_destroys_expired_jobs_and_their_objects(stack: Stack, store: JobStore) -> None:
    # The API's own maintenance loop would destroy them too: switch it off to test the command.
    server = stack.server(reconcile_interval=0)
    stack.worker()
    # A blob above SPT_API_INLINE_RESULT_MAX goes to the storage; the short message stays in the job's record.
    done_url = server.create_job("echo", run=True, message="expired", size=8192)
    assert server.wait_final(done_url)["phase"] == "COMPLETED"
    done_id = done_url.rsplit("/", 1)[1]
    assert stack.keys(done_id) == [f"echo/{done_id}/blob"]
    running_url, running_id = _running(server, delay=60, steps=60)
    running_pid = _worker_pid(store, running_id)
    keep_url = server.create_job("echo", message="kept")

    past = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with server.client() as client:
        for url in (done_url, running_url):
            response = post_form(client, url + "/destruction", DESTRUCTION=past)
            assert response.status_code == 303, response.text
            assert get_job(server, url)["destruction"].startswith(past[:16])

    result = stack.cli("cleanup")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"deleted": 2, "swept": 0}

    with server.client() as client:
        for url in (done_url, running_url):
            assert client.get(url, headers={"Accept": "application/json"}).status_code == 404
            assert client.get(url + "/results/message").status_code == 404
        assert client.get(keep_url, headers={"Accept": "application/json"}).status_code == 200
    assert stack.keys(done_id) == []
    assert stack.keys(running_id) == []
    assert store.get(SYSTEM, done_id) is None and store.get(SYSTEM, running_id) is None
    # The running job was aborted before it was forgotten: its process is gone.
    wait_for(lambda: not _pid_alive(running_pid), 10, "expired job's process killed", interval=0.05)

    # A second pass finds nothing more to do.
    again = stack.cli("cleanup")
    assert json.loads(again.stdout.strip().splitlines()[-1]) == {"deleted": 0, "swept": 0}
