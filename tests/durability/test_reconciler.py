"""The reconciler: `spt-api reconcile` as a command, and no resending of jobs that merely wait in line."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from spt_api.db import create_job_store
from tests.durability.stack import HEARTBEAT_TIMEOUT, Stack, get_job, metric_samples, wait_for
from tests.support.principals import SYSTEM
from tests.support.redisserver import PrivateRedis
from tests.support.s3server import SeaweedS3


def test_reconcile_command_requeues_the_job_of_a_killed_worker(
    make_stack: Callable[..., Stack], machine_db: str, private_redis: PrivateRedis, durability_s3: SeaweedS3
) -> None:
    stack = make_stack(machine_db, private_redis.url_for(4), durability_s3)
    server = stack.server(reconcile_interval=0)  # only the command reconciles here
    worker = stack.worker(concurrency=1)
    url = server.create_job("echo", run=True, message="survivor", delay=2, steps=4)
    job_id = url.rsplit("/", 1)[1]
    wait_for(lambda: (get_job(server, url)["progress"] or {}).get("done", 0) >= 1, 30, "job mid-way")
    worker.kill()

    reports: list[dict[str, Any]] = []

    def reconcile_requeues() -> bool:
        done = stack.cli("reconcile")
        assert done.returncode == 0, done.stderr
        reports.append(json.loads(done.stdout.strip().splitlines()[-1]))
        return job_id in reports[-1]["requeued"]

    # Nothing to do while the heartbeat is fresh; the job is requeued once it is older than the limit.
    wait_for(reconcile_requeues, HEARTBEAT_TIMEOUT + 20, "spt-api reconcile requeues the job", interval=0.5)
    assert get_job(server, url)["phase"] == "QUEUED"
    stack.worker(concurrency=1)
    job = server.wait_final(url, timeout=30)
    assert job["phase"] == "COMPLETED", job
    store = create_job_store(machine_db, run_migrations=False, pool_size=1)
    stored = store.get(SYSTEM, job_id)
    store.engine.dispose()
    assert stored is not None and stored.attempts == 2


def test_jobs_waiting_in_a_backlog_are_not_sent_twice(
    make_stack: Callable[..., Stack], machine_db: str, private_redis: PrivateRedis, durability_s3: SeaweedS3
) -> None:
    """A QUEUED job older than the reconciler's limit whose message is still in the queue must not be
    resent: a long backlog would otherwise grow by itself at every pass."""
    stack = make_stack(machine_db, private_redis.url_for(5), durability_s3)
    server = stack.server()
    stack.worker(concurrency=1)
    urls = [server.create_job("echo", run=True, message=f"backlog {i}", delay=1.5) for i in range(7)]
    excess: list[int] = []

    def drained() -> bool:
        with server.client() as client:
            queued = sum(get_job(server, url)["phase"] == "QUEUED" for url in urls)
            text = client.get(server.base_url + "/metrics").text
        depth = sum(v for labels, v in metric_samples(text, "spt_queue_depth") if labels["queue"] == "echo")
        excess.append(int(depth) - queued)
        return queued == 0

    # The last jobs wait about 9 s, longer than the 6 s after which a QUEUED job looks lost.
    wait_for(drained, 60, "backlog drained", interval=0.2)
    assert max(excess) <= 0, f"queue held up to {max(excess)} more messages than QUEUED jobs"
    for url in urls:
        assert server.wait_final(url)["phase"] == "COMPLETED"
