"""``kill -9`` of a Celery worker in the middle of a job, 20 times: no job lost, stuck or doubled."""

from __future__ import annotations

from collections.abc import Callable

from tests.durability.killing import check_outcomes, kill_rounds
from tests.durability.stack import Stack
from tests.support.redisserver import PrivateRedis
from tests.support.s3server import SeaweedS3

ROUNDS = 20


def test_kill_worker_mid_job_20_times(
    make_stack: Callable[..., Stack], machine_db: str, private_redis: PrivateRedis, durability_s3: SeaweedS3
) -> None:
    stack = make_stack(machine_db, private_redis.url, durability_s3)
    server = stack.server()
    report = kill_rounds(stack, server, ROUNDS)
    print(f"{ROUNDS} kills in {report.seconds:.1f} s: {dict(report.outcomes)}")
    assert len(report.jobs) == 2 * ROUNDS
    assert check_outcomes(stack, report) == []
    # A job that lost its worker once or twice is requeued and finishes; only the thrice-killed fail.
    assert report.outcomes["COMPLETED"] >= ROUNDS, dict(report.outcomes)
    for job_id, job in report.jobs.items():
        if job["phase"] == "ERROR":
            assert report.attempts[job_id] == 3, (job_id, job["errorSummary"])
            assert "vanished" in job["errorSummary"]["message"]
