"""The embedded backend stores a new job from the event loop itself, but never waits there for SQLite's
write lock: while another connection holds it, the INSERT fails at once, writing nothing, and the job
is stored from the thread pool once the lock is free. The loop meanwhile serves everyone else."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from spt_api.db import create_job_store
from spt_api.testing import start_server_thread
from spt_api.uws.models import utcnow
from spt_api.uws.phases import ExecutionPhase
from spt_api.uws.principal import Principal
from tests.conftest import embedded_settings
from tests.support.principals import ANONYMOUS, SYSTEM

#: Far below the store's busy_timeout (10 s), far above an INSERT's time: a write that waited shows.
PROMPT = 2.0


@contextmanager
def write_locked(db: Path) -> Iterator[None]:
    """Another connection holds the database's write lock (as a worker process's write does, briefly)."""
    other = sqlite3.connect(db, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
        other.execute("COMMIT")
    finally:
        other.close()


def test_create_now_writes_nothing_and_waits_for_nothing_while_another_writer_holds_the_lock(tmp_path: Path) -> None:
    db = tmp_path / "jobs.sqlite"
    store = create_job_store(f"sqlite:///{db}")
    values = {"service": "echo", "parameters": [("message", "x")], "execution_duration": 60,
              "destruction_time": None, "queued": True, "task_id": "t1"}
    assert store.create_now(ANONYMOUS, job_id="before0000", **values) is not None  # its connection is open
    gc.collect()
    # The loop's connection stays its own: the pool's (the threads', which may wait) wait as before.
    with store.engine.connect() as pooled:
        assert pooled.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
    with write_locked(db):
        start = time.monotonic()
        assert store.create_now(ANONYMOUS, job_id="locked0000", **values) is None
        assert time.monotonic() - start < PROMPT  # not the busy_timeout's 10 s
    assert store.get(SYSTEM, "locked0000") is None
    job = store.create_now(ANONYMOUS, job_id="free000000", **values)
    assert job is not None and job.phase is ExecutionPhase.QUEUED
    assert store.get(SYSTEM, "free000000") == job
    # The normal write still waits for the lock (a thread pool's call), and the loop's connection is its own.
    assert store.create(ANONYMOUS, job_id="pooled0000", **values).job_id == "pooled0000"


def test_a_job_submitted_while_sqlite_is_locked_is_stored_from_the_pool_and_the_loop_stays_free(
    tmp_path: Path,
) -> None:
    server = start_server_thread(embedded_settings(tmp_path, reconcile_interval=0))
    try:
        service = server.backends.jobs
        db = Path(server.settings.effective_database_url.removeprefix("sqlite:///"))
        with write_locked(db):
            created = asyncio.run_coroutine_threadsafe(
                service.create(ANONYMOUS, "echo", [("message", "x"), ("PHASE", "RUN")]), server.loop
            )
            # Scheduled after the creation's first step, which tried the INSERT on the loop: it runs at
            # once only if that try did not wait for the lock.
            loop_free = asyncio.run_coroutine_threadsafe(asyncio.sleep(0), server.loop)
            loop_free.result(timeout=PROMPT)
            assert not created.done()  # waiting for the lock, in the pool
        job = created.result(timeout=30)
        assert job.phase is ExecutionPhase.QUEUED
        done = asyncio.run_coroutine_threadsafe(service.wait_final(ANONYMOUS, "echo", job.job_id, 30), server.loop)
        assert done.result(timeout=35).phase is ExecutionPhase.COMPLETED
    finally:
        server.stop()


def test_create_now_stores_and_returns_what_create_does(tmp_path: Path) -> None:
    """The INSERT bypasses SQLAlchemy's execution: the stored row, byte for byte, and the job are the same."""
    db = tmp_path / "jobs.sqlite"
    store = create_job_store(f"sqlite:///{db}")
    now = utcnow()
    values = {"service": "echo", "parameters": [("message", "x"), ("name", "é\u2028")], "execution_duration": 60,
              "destruction_time": now + timedelta(days=7), "creation_time": now, "queued": True, "task_id": "t1",
              "queue": "echo-q", "run_id": "run", "sync": True, "idempotency_key": None, "request_hash": None}
    principal = Principal.user("alice", username="Alice")
    made = store.create(principal, job_id="made000000", **values)
    now_made = store.create_now(principal, job_id="now0000000", **values)
    assert now_made == replace(made, job_id="now0000000")
    assert store.get(SYSTEM, "now0000000") == replace(store.require(SYSTEM, "made000000"), job_id="now0000000")
    with sqlite3.connect(db) as raw:
        rows = raw.execute("SELECT * FROM jobs WHERE job_id IN ('made000000', 'now0000000') ORDER BY job_id").fetchall()
    assert rows[0][1:] == rows[1][1:]
