"""Reconciler decisions on overrunning jobs, against a real SQLite job store.

The queue is a recording dispatcher: these tests are about what the reconciler decides
from the job rows, and the Celery and embedded paths are covered in tests/durability.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from spt_api.config import Settings
from spt_api.db import JobStore, create_job_store
from spt_api.db.schema import jobs
from spt_api.maintenance import OVERRUN_GRACE, reconcile
from spt_api.queue.base import Dispatcher
from spt_api.uws.models import Job, utcnow
from spt_api.uws.phases import ExecutionPhase
from tests.support.principals import ANONYMOUS, SYSTEM


class RecordingDispatcher(Dispatcher):
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.aborted: list[str] = []

    def send(self, job: Job) -> str | None:
        self.sent.append(job.job_id)
        return None

    def abort(self, job: Job) -> None:
        self.aborted.append(job.job_id)


class NoEvents:
    def publish(self, job_id: str, event: dict[str, object]) -> None:
        pass


def _running(store: JobStore, *, duration: int, started_ago: float, heartbeat_ago: float) -> Job:
    job = store.create(ANONYMOUS, service="echo", parameters=[], execution_duration=duration,
                       destruction_time=None, queued=True)
    store.claim(SYSTEM, job.job_id, "worker-1")
    now = utcnow()
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(jobs)
            .where(jobs.c.job_id == job.job_id)
            .values(
                start_time=now - timedelta(seconds=started_ago),
                heartbeat_time=now - timedelta(seconds=heartbeat_ago),
            )
        )
    return job


def _setup(tmp_path: Path) -> tuple[Settings, JobStore, RecordingDispatcher]:
    settings = Settings(data_dir=tmp_path, heartbeat_timeout=10, max_attempts=3)
    return settings, create_job_store(f"sqlite:///{tmp_path}/jobs.sqlite"), RecordingDispatcher()


def test_silent_job_past_its_duration_is_aborted_not_requeued(tmp_path: Path) -> None:
    settings, store, dispatcher = _setup(tmp_path)
    job = _running(store, duration=5, started_ago=20, heartbeat_ago=15)
    report = reconcile(settings, store, dispatcher, NoEvents())
    assert report.aborted == [job.job_id] and not report.requeued
    after = store.require(SYSTEM, job.job_id)
    assert after.phase is ExecutionPhase.ABORTED
    assert after.error is not None and "executionDuration of 5 s" in after.error.message
    assert dispatcher.aborted == [job.job_id] and not dispatcher.sent


def test_heartbeating_job_far_past_its_duration_is_aborted(tmp_path: Path) -> None:
    settings, store, dispatcher = _setup(tmp_path)
    job = _running(store, duration=5, started_ago=5 + OVERRUN_GRACE + 5, heartbeat_ago=0)
    report = reconcile(settings, store, dispatcher, NoEvents())
    assert report.aborted == [job.job_id]
    assert store.require(SYSTEM, job.job_id).phase is ExecutionPhase.ABORTED


def test_silent_job_within_its_duration_is_requeued(tmp_path: Path) -> None:
    settings, store, dispatcher = _setup(tmp_path)
    job = _running(store, duration=600, started_ago=30, heartbeat_ago=30)
    report = reconcile(settings, store, dispatcher, NoEvents())
    assert report.requeued == [job.job_id] and not report.aborted
    assert store.require(SYSTEM, job.job_id).phase is ExecutionPhase.QUEUED
    assert dispatcher.sent == [job.job_id]


def test_healthy_job_is_left_alone(tmp_path: Path) -> None:
    settings, store, dispatcher = _setup(tmp_path)
    job = _running(store, duration=600, started_ago=30, heartbeat_ago=1)
    report = reconcile(settings, store, dispatcher, NoEvents())
    assert not (report.aborted or report.requeued or report.failed)
    assert store.require(SYSTEM, job.job_id).phase is ExecutionPhase.EXECUTING
