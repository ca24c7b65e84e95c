"""The job store's psycopg path on PostgreSQL (create, claim, complete): the same jobs as SQLAlchemy's
path, and a lost connection handled as the engine handles it (one transparent retry)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import psycopg
import pytest

from spt_api.db import JobStore, create_job_store
from spt_api.db.migrate import sqlalchemy_url
from spt_api.uws.models import JobResult, Progress, utcnow
from spt_api.uws.phases import ExecutionPhase
from tests.support.principals import ANONYMOUS, SYSTEM


@pytest.fixture
def stores(machine_db: str) -> Iterator[tuple[JobStore, JobStore]]:
    """(psycopg path, SQLAlchemy path) on the same database."""
    hot = create_job_store(machine_db, run_migrations=False)
    plain = create_job_store(machine_db, run_migrations=False)
    plain._hot = None
    assert hot._hot is not None
    yield hot, plain
    hot.engine.dispose()
    plain.engine.dispose()


def _life(store: JobStore) -> list[object]:
    """A job's create, claim, complete and final read, as the store returns them (ids and times made equal)."""
    job = store.create(ANONYMOUS, service="echo", parameters=[("message", "x"), ("message", "é")],
                       execution_duration=60, destruction_time=utcnow(), run_id="r", queued=True,
                       task_id="t", queue="echo", sync=True, idempotency_key=None, request_hash=None)
    claimed = store.claim(SYSTEM, job.job_id, "w1")
    assert claimed is not None and store.claim(SYSTEM, job.job_id, "w2") is None  # only once
    results = [JobResult("message", f"echo/{job.job_id}/message", "text/plain", 1)]
    assert not store.complete(SYSTEM, job.job_id, results, worker_id="w2")  # not its worker
    assert store.complete(SYSTEM, job.job_id, results, worker_id="w1")
    assert not store.complete(SYSTEM, job.job_id, results)  # no longer EXECUTING
    final = store.get(SYSTEM, job.job_id)
    assert final is not None and final.phase == ExecutionPhase.COMPLETED and final.results == tuple(results)
    return [_blank(j) for j in (job, claimed, final)]


def _blank(job: object) -> object:
    fields = {f.name for f in dataclasses.fields(job)}  # type: ignore[arg-type]
    times = {"creation_time", "destruction_time", "start_time", "end_time", "heartbeat_time", "quote"}
    values = {name: None for name in times & fields}
    values["job_id"] = ""
    values["results"] = tuple(dataclasses.replace(r, key="") for r in job.results)  # type: ignore[attr-defined]
    return dataclasses.replace(job, **values)  # type: ignore[type-var]


def test_the_psycopg_path_stores_and_returns_what_sqlalchemy_does(stores: tuple[JobStore, JobStore]) -> None:
    hot, plain = stores
    assert _life(hot) == _life(plain)


def test_a_lost_connection_is_retried_on_a_fresh_one(stores: tuple[JobStore, JobStore], machine_db: str) -> None:
    hot, _ = stores
    job = hot.create(ANONYMOUS, service="echo", parameters=[], execution_duration=60, destruction_time=None,
                     queued=True)
    # The pool holds one idle connection now; the server drops it (as a restart would).
    with hot.engine.connect() as conn:
        pid = conn.connection.driver_connection.info.backend_pid  # type: ignore[union-attr]
    dsn = sqlalchemy_url(machine_db).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    claimed = hot.claim(SYSTEM, job.job_id, "w1")  # fails on the dead connection, then retried
    assert claimed is not None and claimed.phase == ExecutionPhase.EXECUTING and claimed.attempts == 1
    hot.set_progress(SYSTEM, job.job_id, Progress(1, 2, "half"))  # the pool serves live connections again
    assert hot.complete(SYSTEM, job.job_id, [], worker_id="w1")
