"""The embedded pool hands a job straight to an idle process, and a waiting job to the next process that
is done; the event loop reads the processes' pipes. The supervisor thread is woken only for what may
block (and for a deadline nearer than its longest sleep)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from spt_api.testing import start_server_thread
from spt_api.uws.models import Job
from spt_api.uws.phases import ExecutionPhase
from tests.conftest import embedded_settings
from tests.support._proc import wait_until
from tests.support.principals import ANONYMOUS
from workers.embedded import EmbeddedDispatcher


def _wait_idle(pool: EmbeddedDispatcher) -> None:
    """Every process has started (imported the task code) and reported its last job done."""
    wait_until(
        lambda: all(slot.ready and slot.job is None for slot in pool._slots),
        timeout=60, what="the pool's processes idle", error=AssertionError,
    )


def test_a_job_goes_straight_to_an_idle_process_or_to_the_next_one_done(tmp_path: Path) -> None:
    server = start_server_thread(embedded_settings(tmp_path, reconcile_interval=0))
    try:
        service = server.backends.jobs
        pool = service.dispatcher
        assert isinstance(pool, EmbeddedDispatcher)

        _wait_idle(pool)
        wakes: list[int] = []
        wake = pool._wake
        pool._wake = lambda: (wakes.append(1), wake())  # type: ignore[method-assign]

        def run(**params: str) -> Job:
            pairs = [(k, v) for k, v in params.items()] + [("PHASE", "RUN")]
            return asyncio.run_coroutine_threadsafe(service.create(ANONYMOUS, "echo", pairs), server.loop).result(30)

        def final(job: Job) -> ExecutionPhase:
            waited = service.wait_final(ANONYMOUS, "echo", job.job_id, 30)
            return asyncio.run_coroutine_threadsafe(waited, server.loop).result(35).phase

        assert final(run(message="x")) is ExecutionPhase.COMPLETED
        assert wakes == []  # sent to an idle process by the caller itself
        _wait_idle(pool)
        # Both processes busy: the third job waits in the list, for the first process that says it is done.
        busy = [run(message="slow", delay="1") for _ in range(pool.size)]
        third = run(message="third")
        assert [j.job_id for j in pool._pending] == [third.job_id]
        assert final(third) is ExecutionPhase.COMPLETED
        assert all(final(job) is ExecutionPhase.COMPLETED for job in busy)
        assert wakes == []
    finally:
        server.stop()


def test_a_jobs_events_reach_its_wait_from_the_pipes_while_the_supervisor_thread_is_busy(tmp_path: Path) -> None:
    """The event loop reads the processes' pipes itself: a job's end does not wait for the supervisor."""
    server = start_server_thread(embedded_settings(tmp_path, reconcile_interval=0))
    release = threading.Event()
    try:
        service = server.backends.jobs
        pool = service.dispatcher
        assert isinstance(pool, EmbeddedDispatcher)
        _wait_idle(pool)
        busy = threading.Event()
        enforce = pool._enforce_deadlines

        def stuck() -> None:  # the supervisor's next round never ends until released
            busy.set()
            release.wait(60)
            enforce()

        pool._enforce_deadlines = stuck  # type: ignore[method-assign]
        pool._wake()
        assert busy.wait(10)
        # A second long: the WAIT's first read finds it running, and only its end event can end the WAIT.
        created = service.create(ANONYMOUS, "echo", [("message", "x"), ("delay", "1"), ("PHASE", "RUN")])
        job = asyncio.run_coroutine_threadsafe(created, server.loop).result(30)
        # The WAIT ends at the job's end event, not at its timeout (when it reads the database, which would
        # find the end too): its timeout is the job's second plus a slack a loaded machine cannot exhaust.
        timeout = 4.0
        start = time.monotonic()
        waited = service.wait_final(ANONYMOUS, "echo", job.job_id, timeout)
        assert asyncio.run_coroutine_threadsafe(waited, server.loop).result(25).phase is ExecutionPhase.COMPLETED
        assert time.monotonic() - start < timeout - 0.5
    finally:
        release.set()
        server.stop()
