"""A Redis broker and no ``SPT_API_REDIS_URL``: job events travel over the broker's Redis.

Before, the worker's events went nowhere (a null publisher) and a WAIT woke only on its 5 s
re-read. With an ``amqp://`` broker there is no Redis to fall back on: ``spt-api serve`` and
``spt-api worker`` refuse to start, with one line saying what to set, instead of degrading silently.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from spt_api.config import Settings
from spt_api.events import JobEvent
from tests.api.uws_helpers import get_job
from tests.support.celery_worker import CeleryWorker
from tests.support.pgserver import migrated_database
from tests.support.redisserver import PrivateRedis
from tests.support.server import RunningServer, start_server

AMQP = "amqp://guest:guest@127.0.0.1:5672//"


def test_effective_redis_url_defaults_to_a_redis_broker() -> None:
    assert Settings(broker_url="redis://h:6379/3").effective_redis_url == "redis://h:6379/3"
    assert Settings(broker_url="rediss://h:6380/0").effective_redis_url == "rediss://h:6380/0"
    assert Settings(broker_url="redis://h/3", redis_url="redis://other/1").effective_redis_url == "redis://other/1"
    assert Settings(broker_url=AMQP).effective_redis_url == ""
    assert Settings().effective_redis_url == ""  # embedded: in-process events


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_amqp_broker_without_redis_refuses_to_start(command: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SPT_API_BROKER_URL": AMQP,
        "SPT_API_REDIS_URL": "",
        "SPT_API_DATA_DIR": str(tmp_path),
        "SPT_API_PORT": "0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "spt_api", command], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "SPT_API_REDIS_URL" in lines[0], done.stderr


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with migrated_database("spt_broker_events") as url:
        yield url


@pytest.mark.services
def test_wait_wakes_on_the_workers_event_with_only_a_broker_url(
    database: str, tmp_path: Path
) -> None:
    storage = (tmp_path / "results").as_uri()
    with PrivateRedis() as redis_server:
        worker = CeleryWorker(
            {
                "SPT_API_DATABASE_URL": database,
                "SPT_API_BROKER_URL": redis_server.url,
                "SPT_API_REDIS_URL": "",  # the point: only the broker is named
                "SPT_API_STORAGE_URL": storage,
                "SPT_API_DATA_DIR": str(tmp_path / "worker"),
                "SPT_API_HEARTBEAT_INTERVAL": "1",
            },
            queues="echo",
            concurrency=1,
            name="broker-events",
        ).start()
        settings = Settings(
            data_dir=tmp_path / "api",
            database_url=database,
            broker_url=redis_server.url,
            redis_url="",
            storage_url=storage,
            wait_max=30,
            heartbeat_interval=1,
            reconcile_interval=0,
        )
        running, stop = start_server(settings)
        try:
            _check_wait(running, worker)
        finally:
            stop()
            worker.stop()


def _check_wait(server: RunningServer, worker: CeleryWorker) -> None:
    seen: list[tuple[str, JobEvent]] = []
    lock = threading.Lock()

    def listen(job_id: str, event: JobEvent) -> None:
        with lock:
            seen.append((job_id, event))

    server.backends.jobs.events.add_listener(listen)
    job_url = server.create_job("echo", run=True, message="over the broker's redis")
    job_id = job_url.rsplit("/", 1)[-1]
    with server.client() as client:
        job = get_job(client, job_url)
        # Each WAIT=30 returns when the phase moves (or at once when it is final); a handful of them
        # covers QUEUED -> EXECUTING -> COMPLETED, and none may end on its 30 s limit unchanged.
        for _ in range(5):
            if job["phase"] not in ("QUEUED", "EXECUTING", "PENDING"):
                break
            before = job["phase"]
            job = get_job(client, job_url, WAIT=30, PHASE=before)
            assert job["phase"] != before, ("WAIT=30 ended on its time limit", worker.log_tail())
    assert job["phase"] == "COMPLETED", (job, worker.log_tail())
    with lock:
        # The worker's own event (no API origin) reached the server's event bus: that woke the WAIT.
        from_worker = [e for j, e in seen if j == job_id and e.origin is None and e.phase == "COMPLETED"]
    assert from_worker, (seen, worker.log_tail())
