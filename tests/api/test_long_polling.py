"""Blocking GET with WAIT (UWS §2.2.1.2), tested with concurrent requests rather than sleeps.

A waiter and a request that changes the phase run together (``asyncio.gather``). To be sure the
waiter is already blocked when the phase changes, the changer first makes its own bounded
``WAIT=1`` on the same job: the server holds it for one second, which is also the check that a
WAIT with no change returns after N seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.uws_helpers import JSON, get_job, wait_for_phase, wait_until_final
from tests.support.principals import SYSTEM
from tests.support.server import RunningServer

# The async client fixture lives on the session loop (asyncio_default_fixture_loop_scope); so do the tests.
pytestmark = pytest.mark.asyncio(loop_scope="session")

#: The WAIT of the waiters (below the servers' wait_max of 30, so they honour it). Nothing but the
#: test touches its job, so such a WAIT ends either at a phase change or at this timeout.
LONG_WAIT = 25


def ended_before_its_timeout(start: float, end: float) -> bool:
    """Whether a WAIT=LONG_WAIT ended early, i.e. because of the change and not at its timeout.

    Not a speed check (bench/ measures that): the expected answer comes after about a second, so
    only a request held until the timeout, or a machine stalled for most of LONG_WAIT, fails it.
    """
    return end - start < LONG_WAIT


@pytest.fixture
async def aclient(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=60) as client:
        yield client


async def timed_get(client: httpx.AsyncClient, url: str, **params: Any) -> tuple[dict[str, Any], float, float]:
    """GET the job as JSON; return it with the start and end times of the request."""
    start = time.monotonic()
    response = await client.get(url, params=params, headers=JSON)
    end = time.monotonic()
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job, start, end


async def change_after_one_wait(client: httpx.AsyncClient, url: str, phase: str) -> float:
    """Hold one WAIT=1 on the job (the waiter is blocked meanwhile), then POST PHASE; return when."""
    job, start, end = await timed_get(client, url, WAIT=1)
    assert job["phase"] == "PENDING"
    assert end - start >= 0.9, "WAIT=1 on a PENDING job returned early"
    changed = time.monotonic()
    response = await client.post(f"{url}/phase", data={"PHASE": phase})
    assert response.status_code == 303
    return changed


async def test_wait_returns_when_run_changes_the_phase(
    server: RunningServer, aclient: httpx.AsyncClient
) -> None:
    url = server.create_job(message="waited")
    (job, start, end), changed = await asyncio.gather(
        timed_get(aclient, url, WAIT=LONG_WAIT), change_after_one_wait(aclient, url, "RUN")
    )
    assert job["phase"] != "PENDING"
    assert end >= changed, "the WAIT returned before the phase changed"
    assert ended_before_its_timeout(start, end), "the WAIT ran to its timeout: it missed the change"


async def test_wait_with_phase_returns_when_an_executing_job_finishes(
    server: RunningServer, aclient: httpx.AsyncClient
) -> None:
    url = server.create_job(run=True, message="slow", delay=2, steps=4)
    with server.client() as client:
        wait_for_phase(client, url, {"EXECUTING"})
    # Progress events while EXECUTING do not end the WAIT; the phase change does.
    job, start, end = await timed_get(aclient, url, WAIT=LONG_WAIT, PHASE="EXECUTING")
    assert job["phase"] == "COMPLETED"
    assert ended_before_its_timeout(start, end), "the WAIT ran to its timeout: it missed the change"


async def test_wait_returns_at_once_in_a_final_phase(server: RunningServer, aclient: httpx.AsyncClient) -> None:
    url = server.create_job(run=True)
    with server.client() as client:
        assert wait_until_final(client, url)["phase"] == "COMPLETED"
    job, start, end = await timed_get(aclient, url, WAIT=LONG_WAIT)
    assert job["phase"] == "COMPLETED"
    # Nothing changes these jobs any more: a WAIT that blocked would run to its timeout.
    assert ended_before_its_timeout(start, end), "a WAIT on a final phase blocked"
    aborted = server.create_job()
    await aclient.post(f"{aborted}/phase", data={"PHASE": "ABORT"})
    job, start, end = await timed_get(aclient, aborted, WAIT=-1)
    assert job["phase"] == "ABORTED"
    # WAIT=-1 is wait_max (30), longer than LONG_WAIT.
    assert ended_before_its_timeout(start, end), "a WAIT=-1 on a final phase blocked"


@pytest.mark.parametrize("phase", ["EXECUTING", "QUEUED", "COMPLETED", "executing"])
async def test_wait_returns_at_once_when_phase_differs(
    server: RunningServer, aclient: httpx.AsyncClient, phase: str
) -> None:
    url = server.create_job()
    job, start, end = await timed_get(aclient, url, WAIT=LONG_WAIT, PHASE=phase)
    assert job["phase"] == "PENDING"
    # Nothing changes this job: a WAIT that blocked would run to its timeout.
    assert ended_before_its_timeout(start, end), "a WAIT with another PHASE blocked"


async def test_wait_with_matching_phase_blocks(server: RunningServer, aclient: httpx.AsyncClient) -> None:
    url = server.create_job()
    (job, start, end), changed = await asyncio.gather(
        timed_get(aclient, url, WAIT=LONG_WAIT, PHASE="PENDING"), change_after_one_wait(aclient, url, "ABORT")
    )
    assert job["phase"] == "ABORTED"
    assert end >= changed, "the WAIT returned before the phase changed"
    assert ended_before_its_timeout(start, end), "the WAIT ran to its timeout: it missed the change"


async def test_wait_minus_one_blocks_until_the_change(server: RunningServer, aclient: httpx.AsyncClient) -> None:
    # WAIT=-1 means the server's maximum (wait_max), far longer than this test: it returns at the change.
    assert server.settings.wait_max >= 10
    url = server.create_job()
    (job, start, end), changed = await asyncio.gather(
        timed_get(aclient, url, WAIT=-1), change_after_one_wait(aclient, url, "ABORT")
    )
    assert job["phase"] == "ABORTED"
    assert end >= changed, "the WAIT returned before the phase changed"
    # Its timeout is wait_max (30), longer than LONG_WAIT.
    assert ended_before_its_timeout(start, end), "the WAIT ran to its timeout: it missed the change"


async def test_wait_returns_after_n_seconds_without_change(
    server: RunningServer, aclient: httpx.AsyncClient
) -> None:
    url = server.create_job()
    job, start, end = await timed_get(aclient, url, WAIT=1)
    assert job["phase"] == "PENDING"
    # The server holds it for WAIT seconds (a lower bound, which load cannot break), not for longer.
    assert end - start >= 0.9
    assert ended_before_its_timeout(start, end), "WAIT=1 was held far longer than 1 s"
    job, start, end = await timed_get(aclient, url, WAIT=0)
    assert job["phase"] == "PENDING"
    # WAIT=0 must not block at all; had the server read it as -1 it would hold wait_max (30).
    assert ended_before_its_timeout(start, end), "WAIT=0 blocked"


async def test_wait_in_xml(server: RunningServer, aclient: httpx.AsyncClient) -> None:
    url = server.create_job()
    start = time.monotonic()
    response = await aclient.get(url, params={"WAIT": 1})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/xml")
    assert time.monotonic() - start >= 0.9


async def test_many_waiters_all_wake(server: RunningServer, aclient: httpx.AsyncClient) -> None:
    url = server.create_job()
    waiters = [timed_get(aclient, url, WAIT=LONG_WAIT) for _ in range(5)]
    *results, changed = await asyncio.gather(*waiters, change_after_one_wait(aclient, url, "ABORT"))
    for job, start, end in results:
        assert job["phase"] == "ABORTED"
        assert end >= changed, "a WAIT returned before the phase changed"
        assert ended_before_its_timeout(start, end), "a WAIT ran to its timeout: it missed the change"
    with server.client() as client:
        assert get_job(client, url)["phase"] == "ABORTED"


async def test_a_wait_woken_by_the_workers_events_returns_what_is_stored(
    server: RunningServer, aclient: httpx.AsyncClient
) -> None:
    """A WAIT answers from the job as the worker's events describe it; it must equal the database's."""
    url = server.create_job(run=True, message="consistent", size=8)
    job, _start, _end = await timed_get(aclient, url, WAIT=LONG_WAIT, PHASE="QUEUED")
    while job["phase"] in ("QUEUED", "EXECUTING"):
        job, _start, _end = await timed_get(aclient, url, WAIT=LONG_WAIT, PHASE=job["phase"])
    assert job["phase"] == "COMPLETED"
    stored = server.backends.jobs.store.get(SYSTEM, job["jobId"])
    assert stored is not None
    server.backends.jobs.cache.invalidate(stored.job_id)
    fresh = (await aclient.get(url, headers=JSON)).json()
    for key in ("phase", "startTime", "endTime", "results", "errorSummary", "executionDuration"):
        assert job.get(key) == fresh.get(key), key
    assert [r["id"] for r in job["results"]] == ["message", "blob"]
