"""CPU per job of ``spt-api worker -c 2`` alone (main and pool processes), draining pre-loaded echo jobs.

The roundtrip bench measures the worker among the API server, the bench client and the raw Celery
worker, in 0.05 ms steps on a busy machine; a change to the worker alone shows better here. N QUEUED
jobs and their Celery messages are loaded first (Redis db 13, queue "echo"), then a worker drains them;
its processes' CPU is counted from 10 % to 90 % of the jobs COMPLETED (start-up and tail left out).
Source trees given on the command line run in turn, round after round (before/after comparisons).

Usage: flock /tmp/bench.lock python bench/worker_drain.py [--jobs 1500] [--rounds 3] [TREE ...]
(TREE: a checkout whose spt_api and workers the worker imports, through PYTHONPATH; default: this one).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import psycopg
import redis
from _common import ROOT, CpuMeter  # type: ignore[import-not-found]

from spt_api.config import Settings
from spt_api.db import create_job_store
from spt_api.db.migrate import sqlalchemy_url
from spt_api.queue.protocol import RUN_JOB_TASK, make_celery, task_message
from tests.support.pgserver import migrated_database
from tests.support.principals import ANONYMOUS

BROKER = "redis://127.0.0.1:6379/13"
#: How often the bench asks the database how many jobs are done: often enough to time 1500 jobs to a few ms.
POLL = 0.05


def drain(tree: str, url: str, jobs: int) -> tuple[float, float]:
    """(CPU ms per job, jobs/s) of a worker from ``tree`` draining ``jobs`` pre-loaded echo jobs."""
    redis.Redis.from_url(BROKER).flushdb()
    store = create_job_store(url, run_migrations=False, pool_size=1)
    created = [store.create(ANONYMOUS, service="echo", parameters=[("message", "hi")], execution_duration=600,
                            destruction_time=None, queued=True, queue="echo") for _ in range(jobs)]
    store.engine.dispose()
    app = make_celery(Settings())
    with app.producer_or_acquire() as producer:
        for job in created:
            args, kwargs, options = task_message(job, "echo", job.job_id)
            app.send_task(RUN_JOB_TASK, args=args, kwargs=kwargs, producer=producer, **options)
    ids = [job.job_id for job in created]
    dsn = sqlalchemy_url(url).replace("postgresql+psycopg://", "postgresql://")
    with tempfile.TemporaryDirectory() as tmp, psycopg.connect(dsn, autocommit=True) as pg:

        def done() -> int:
            query = "SELECT count(*) FROM jobs WHERE job_id = ANY(%s) AND phase = 'COMPLETED'"
            row = pg.execute(query, (ids,)).fetchone()
            return int(row[0]) if row else 0

        env = {**os.environ, "SPT_API_DATA_DIR": tmp, "PYTHONPATH": tree}
        proc = subprocess.Popen([sys.executable, "-m", "spt_api", "worker", "--queues", "echo", "--concurrency", "2"],
                                env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + 300
            while (first := done()) < jobs // 10:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the worker from {tree} did not drain the queue")
                time.sleep(POLL)
            # The worker's main process and its pool processes (its descendants).
            meter = CpuMeter({"worker": proc.pid}, {})
            meter.start()
            start = time.perf_counter()
            while (last := done()) < jobs * 9 // 10:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the worker from {tree} stopped draining the queue")
                time.sleep(POLL)
            cpu, elapsed = meter.stop()["worker"], time.perf_counter() - start
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(30)
    return cpu * 1000 / (last - first), (last - first) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("trees", nargs="*", default=[str(ROOT)])
    args = parser.parse_args()
    cpu: dict[str, list[float]] = {tree: [] for tree in args.trees}
    with migrated_database("spt_worker_drain") as url:
        os.environ.update(SPT_API_DATABASE_URL=url, SPT_API_BROKER_URL=BROKER, SPT_API_REDIS_URL=BROKER,
                          SPT_API_LOG_LEVEL="WARNING")
        for _ in range(args.rounds):
            for tree in args.trees:
                ms, rate = drain(tree, url, args.jobs)
                cpu[tree].append(ms)
                print(f"{tree}: {ms:.3f} ms CPU per job, {rate:.0f} jobs/s", flush=True)
    for tree, values in cpu.items():
        each = ", ".join(f"{v:.3f}" for v in values)
        print(f"{tree}: median {statistics.median(values):.3f} ms CPU per job ({each})")


if __name__ == "__main__":
    main()
