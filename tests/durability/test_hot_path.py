"""The job store's psycopg path on PostgreSQL (create, claim, complete): the same jobs as SQLAlchemy's
path, and a lost connection handled as the engine handles it (one transparent retry); a worker's held
connection (one per thread, kept between statements) pinged after idling and replaced when lost."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa

from spt_api.db import JobStore, create_job_store
from spt_api.db.liveness import PING_AFTER_IDLE
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


@pytest.fixture
def held(machine_db: str) -> Iterator[JobStore]:
    """A worker's store: each thread keeps its connection for create, claim and complete."""
    store = create_job_store(machine_db, run_migrations=False, hold_connection=True)
    assert store._hot is not None and store._hot.hold
    yield store
    store._hot.release()
    store.engine.dispose()


def _backend_pid(store: JobStore) -> int:
    held = store._hot._local.held  # type: ignore[union-attr]
    return int(held.fairy.driver_connection.info.backend_pid)


def _kill(machine_db: str, pid: int) -> None:
    dsn = sqlalchemy_url(machine_db).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_held_connection_serves_a_whole_job_with_one_checkout(
    held: JobStore, stores: tuple[JobStore, JobStore]
) -> None:
    checkouts: list[object] = []
    sa.event.listen(held.engine, "checkout", lambda *args: checkouts.append(args))
    assert _life(held) == _life(stores[1])
    # The final read (store.get) goes through SQLAlchemy: one checkout of its own.
    assert len(checkouts) == 2


def test_a_held_connection_lost_under_a_statement_is_replaced_by_the_retry(held: JobStore, machine_db: str) -> None:
    job = held.create(ANONYMOUS, service="echo", parameters=[], execution_duration=60, destruction_time=None,
                      queued=True)
    first = _backend_pid(held)
    _kill(machine_db, first)
    claimed = held.claim(SYSTEM, job.job_id, "w1")  # fails on the dead connection, then retried on a new one
    assert claimed is not None and claimed.attempts == 1
    assert _backend_pid(held) != first
    assert held.complete(SYSTEM, job.job_id, [], worker_id="w1")


def test_a_held_connection_that_died_while_idle_is_pinged_and_replaced(held: JobStore, machine_db: str) -> None:
    job = held.create(ANONYMOUS, service="echo", parameters=[], execution_duration=60, destruction_time=None,
                      queued=True)
    first = _backend_pid(held)
    _kill(machine_db, first)
    held._hot._local.held.last_used -= PING_AFTER_IDLE  # type: ignore[union-attr]  # as if idle since
    # The ping finds it dead before the statement: no failed statement, so no retry is needed.
    plain_claim = type(held).claim.__wrapped__  # type: ignore[attr-defined]
    claimed = plain_claim(held, SYSTEM, job.job_id, "w1")
    assert claimed is not None and claimed.attempts == 1
    assert _backend_pid(held) != first


def test_each_thread_holds_its_own_connection(held: JobStore) -> None:
    held.create(ANONYMOUS, service="echo", parameters=[], execution_duration=60, destruction_time=None)
    pids: list[int] = []

    def other() -> None:
        held.create(ANONYMOUS, service="echo", parameters=[], execution_duration=60, destruction_time=None)
        pids.append(_backend_pid(held))
        held._hot.release()  # type: ignore[union-attr]

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert pids and pids[0] != _backend_pid(held)
