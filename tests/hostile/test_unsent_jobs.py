"""A job stored QUEUED whose message never left (the API died between its INSERT and its send, e.g.
mid-flood) is sent when an API starts, not two heartbeat timeouts later by the reconciler.

The reconciler is kept out of the way (an hour's timeouts); a reconciler's requeue would also give
the job a new task id, so an unchanged task id says the start-up resend sent it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from spt_api.config import Settings
from spt_api.db import JobStore, create_job_store
from spt_api.db.store import new_job_id
from spt_api.recovery import resend_unsent
from spt_api.uws.models import Job, utcnow
from spt_api.uws.task_ids import new_task_id
from tests.conftest import ProductionInfra, cutout_maps, embedded_settings
from tests.support.principals import ANONYMOUS, SYSTEM
from tests.support.server import start_server

HOUR = 3600


@pytest.fixture(params=["embedded", "production"])
def quiet_settings(request: pytest.FixtureRequest, tmp_path: Path, demo_maps: Path) -> Settings:
    """A server's settings whose reconciler would not act within the test."""
    overrides: dict[str, Any] = {
        "heartbeat_timeout": HOUR, "reconcile_interval": HOUR, "service_settings": cutout_maps(demo_maps)
    }
    if request.param == "embedded":
        return embedded_settings(tmp_path, **overrides)
    infra: ProductionInfra = request.getfixturevalue("production_infra")
    request.getfixturevalue("celery_worker")
    return infra.settings(**overrides)


@pytest.fixture
def store(quiet_settings: Settings) -> Iterator[JobStore]:
    job_store = create_job_store(quiet_settings.effective_database_url)
    yield job_store
    job_store.engine.dispose()


def _stored_unsent(store: JobStore, message: str, queued_ago: float = 1.0) -> Job:
    """A job as an API leaves it when it dies right after the INSERT: QUEUED, no message sent."""
    job_id = new_job_id()
    return store.create(
        ANONYMOUS, job_id=job_id, service="echo", parameters=[("message", message)], execution_duration=60,
        destruction_time=None, queued=True, task_id=new_task_id(job_id), queue="echo",
        creation_time=utcnow() - timedelta(seconds=queued_ago),
    )


def test_a_stored_but_unsent_job_is_sent_at_start(quiet_settings: Settings, store: JobStore) -> None:
    job = _stored_unsent(store, "left behind")
    server, stop = start_server(quiet_settings)
    try:
        final = server.wait_final(f"{server.jobs_url()}/{job.job_id}", timeout=60)
    finally:
        stop()
    assert final["phase"] == "COMPLETED", final
    stored = store.get(SYSTEM, job.job_id)
    assert stored is not None and stored.attempts == 1
    assert stored.task_id == job.task_id  # sent as it was stored, not requeued by a reconciler


class _Recorder:
    def __init__(self, depths: dict[str, int] | None = None) -> None:
        self.sent: list[str] = []
        self.depths = depths or {}

    def send(self, job: Job) -> str | None:
        self.sent.append(job.job_id)
        return None

    def queue_depths(self) -> dict[str, int]:
        return self.depths


@pytest.mark.parametrize(
    ("depths", "resent"),
    [({}, True), ({"echo": 2}, True), ({"echo": 3}, False)],
    ids=["depths-unknown", "messages-missing", "every-message-waits"],
)
def test_a_celery_api_resends_only_the_jobs_queued_just_before_it_started(
    tmp_path: Path, depths: dict[str, int], resent: bool
) -> None:
    """A backlog older than the reconciler's queued timeout is not resent at every start (it is the
    reconciler's), nor is a job queued after the start (its API sent it), nor anything when the queue
    holds a message for each QUEUED job."""
    settings = Settings(data_dir=tmp_path, heartbeat_timeout=60, broker_url="redis://127.0.0.1:1/0")
    job_store = create_job_store(settings.effective_database_url)
    try:
        started = utcnow()
        recent = _stored_unsent(job_store, "recent", queued_ago=30)
        _stored_unsent(job_store, "old", queued_ago=HOUR)
        _stored_unsent(job_store, "later", queued_ago=-5)
        claimed = _stored_unsent(job_store, "claimed", queued_ago=10)
        assert job_store.claim(SYSTEM, claimed.job_id, "worker-1") is not None
        recorder = _Recorder(depths)
        report = resend_unsent(settings, job_store, recorder, started)  # type: ignore[arg-type]
    finally:
        job_store.engine.dispose()
    assert recorder.sent == report.resent == ([recent.job_id] if resent else [])
