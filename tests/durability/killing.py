"""``kill -9`` of Celery workers in the middle of jobs, round after round (tests and bench/kill_worker.py).

Each round submits a few ``echo`` jobs, waits until a job runs in the current
worker and has reported progress (so it is truly mid-job), SIGKILLs that whole
worker (main process and pool children) and starts a new one; a second worker
serves meanwhile. The API server's
reconciler notices the silent heartbeats and requeues (or, after ``max_attempts``,
fails) the jobs. At the end every job must be COMPLETED or ERROR, with its
results once each and exactly its objects in the bucket.
"""

from __future__ import annotations

import collections
import os
import time
from dataclasses import dataclass, field
from typing import Any

from spt_api.db import JobStore, create_job_store
from spt_api.uws.phases import ExecutionPhase
from tests.durability.stack import Stack, wait_all_final, wait_for
from tests.support.celery_worker import CeleryWorker
from tests.support.principals import SYSTEM
from tests.support.server import RunningServer

__all__ = ["KillReport", "check_outcomes", "kill_rounds"]

#: echo parameters: one second of work in four steps, two results (message and a small blob).
# The blob (8 KiB, above SPT_API_INLINE_RESULT_MAX) goes to the bucket; the message is kept with the job.
JOB_PARAMS: dict[str, Any] = {"delay": 1.0, "steps": 4, "size": 8192}


@dataclass
class KillReport:
    rounds: int
    seconds: float
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)

    @property
    def outcomes(self) -> collections.Counter[str]:
        return collections.Counter(job["phase"] for job in self.jobs.values())


def _in_group(worker_id: str | None, pgid: int) -> bool:
    """Whether the job's worker (``host:pid``) is a live process of the worker's process group."""
    if not worker_id:
        return False
    try:
        return os.getpgid(int(worker_id.rsplit(":", 1)[1])) == pgid
    except (ValueError, ProcessLookupError):
        return False


def _worker_mid_job(store: JobStore, workers: list[CeleryWorker]) -> CeleryWorker | None:
    """A live worker running a job that has reported progress (so it is truly mid-job)."""
    # Each worker runs in a session (and process group) of its own, led by its main process.
    groups = {worker.proc.pid: worker for worker in workers if worker.proc is not None}
    for job in store.list(SYSTEM, service="echo", phases=[ExecutionPhase.EXECUTING]):
        if job.progress is None or job.progress.done < 1:
            continue
        for pgid, worker in groups.items():
            if _in_group(job.worker_id, pgid):
                return worker
    return None


def kill_rounds(
    stack: Stack, server: RunningServer, rounds: int, jobs_per_round: int = 2, drain_timeout: float = 180
) -> KillReport:
    store = create_job_store(stack.database_url, run_migrations=False, pool_size=1)
    started = time.monotonic()
    job_urls: list[str] = []
    # Two workers serve; the one killed is replaced at once, and the other serves while it starts.
    workers = [stack.worker(), stack.worker()]
    try:
        for number in range(rounds):
            for index in range(jobs_per_round):
                job_urls.append(
                    server.create_job("echo", run=True, message=f"round {number} job {index}", **JOB_PARAMS)
                )
            victim: CeleryWorker = wait_for(
                lambda: _worker_mid_job(store, workers),
                timeout=60,
                what=f"round {number}: a job running mid-way in a worker",
                interval=0.05,
            )
            victim.kill()
            workers[workers.index(victim)] = stack.worker()
        jobs = wait_all_final(server, job_urls, timeout=drain_timeout)
    except BaseException:
        for worker in workers:
            print(worker.log_tail())
        raise
    finally:
        for worker in workers:
            worker.stop()
    report = KillReport(rounds, time.monotonic() - started)
    for job in jobs.values():
        report.jobs[job["jobId"]] = job
        stored = store.get(SYSTEM, job["jobId"])
        report.attempts[job["jobId"]] = stored.attempts if stored else -1
    store.engine.dispose()
    return report


def check_outcomes(stack: Stack, report: KillReport, max_attempts: int = 3) -> list[str]:
    """Every broken promise of the report, as messages (empty: all good)."""
    problems: list[str] = []
    expected = {"message", "blob"}
    for job_id, job in report.jobs.items():
        phase = job["phase"]
        keys = stack.keys(job_id)
        wanted = {f"echo/{job_id}/blob"}
        ids = [r["id"] for r in job["results"]]
        if phase == "COMPLETED":
            if sorted(ids) != sorted(expected):
                problems.append(f"{job_id}: results {ids}, expected each of {sorted(expected)} once")
            if set(keys) != wanted or len(keys) != len(wanted):
                problems.append(f"{job_id}: bucket holds {keys}, expected {sorted(wanted)}")
        elif phase == "ERROR":
            if ids:
                problems.append(f"{job_id}: ERROR with results {ids}")
            if not set(keys) <= wanted:
                problems.append(f"{job_id}: ERROR job left unexpected objects {keys}")
            message = (job.get("errorSummary") or {}).get("message", "")
            if not message:
                problems.append(f"{job_id}: ERROR without an error message")
        else:
            problems.append(f"{job_id}: ended {phase}, expected COMPLETED or ERROR")
        if not 1 <= report.attempts[job_id] <= max_attempts:
            problems.append(f"{job_id}: started {report.attempts[job_id]} times (limit {max_attempts})")
    return problems
