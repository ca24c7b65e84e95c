"""Small results are kept with the job (``SPT_API_INLINE_RESULT_MAX``) and served by the API itself.

An echo's message, a sync answer or a short manifest costs no storage write at its end and no storage
read (nor signed-URL redirect) when it is fetched: it is written by the UPDATE that completes the job.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx

from spt_api.config import Settings
from spt_api.events.messages import JobEvent, apply_run_state, phase_event
from spt_api.testing import start_server_thread
from spt_api.uws.models import Job, JobResult
from spt_api.uws.phases import ExecutionPhase
from tests.api.uws_helpers import wait_until_final
from tests.support.server import RunningServer


def test_a_small_result_is_served_from_the_job_and_a_large_one_from_the_storage(
    server: RunningServer, client: httpx.Client
) -> None:
    url = server.create_job(run=True, message="small", size=8192)
    job = wait_until_final(client, url)
    assert job["phase"] == "COMPLETED", job
    assert {r["id"]: r["size"] for r in job["results"]} == {"message": 5, "blob": 8192}
    job_id = url.rsplit("/", 1)[1]
    objects = server.backends.jobs.objects
    assert not objects.exists(f"echo/{job_id}/message")  # kept with the job, not in the storage
    assert objects.exists(f"echo/{job_id}/blob")  # above the limit (4096 bytes)
    # Served by the API, with its type and file name, on every backend: never a redirect to the storage.
    message = client.get(f"{url}/results/message")
    assert message.status_code == 200 and message.content == b"small"
    assert message.headers["Content-Type"].startswith("text/plain")
    assert "message" in message.headers["Content-Disposition"]
    blob = client.get(f"{url}/results/blob", follow_redirects=True)
    assert blob.content == (b"small" * 1700)[:8192]


def test_the_sync_answer_of_a_small_result_is_kept_with_its_job(server: RunningServer, client: httpx.Client) -> None:
    answer = client.get(f"{server.api}/echo/sync", params={"message": "at once", "RUNID": "inline-sync"})
    assert answer.status_code == 200 and answer.content == b"at once"
    listed = client.get(server.jobs_url(), headers={"Accept": "application/json"}).json()["jobs"]
    (mine,) = [j for j in listed if j["runId"] == "inline-sync"]
    job_id = mine["href"].rsplit("/", 1)[1]
    assert not server.backends.jobs.objects.exists(f"echo/{job_id}/message")


def test_zero_sends_every_result_to_the_storage(tmp_path: Path) -> None:
    server = start_server_thread(Settings(data_dir=tmp_path, inline_result_max=0, reconcile_interval=0))
    try:
        with httpx.Client(timeout=30) as client:
            created = client.post(f"{server.base_url}/api/echo/jobs", data={"message": "stored", "PHASE": "RUN"})
            url = created.headers["Location"]
            assert wait_until_final(client, url)["phase"] == "COMPLETED"
            assert server.backends.jobs.objects.exists(f"echo/{url.rsplit('/', 1)[1]}/message")
            assert client.get(f"{url}/results/message").content == b"stored"
    finally:
        server.stop()


def _completed(data: bytes | None) -> tuple[Job, Job]:
    started = Job(
        job_id="j1", service="echo", owner=None, phase=ExecutionPhase.EXECUTING,
        creation_time=datetime(2026, 1, 1, tzinfo=UTC), execution_duration=60, destruction_time=None,
        start_time=datetime(2026, 1, 1, 0, 1, tzinfo=UTC), attempts=1, worker_id="w:1",
    )
    done = replace(started, phase=ExecutionPhase.COMPLETED, end_time=datetime(2026, 1, 1, 0, 2, tzinfo=UTC),
                   results=(JobResult("message", "echo/j1/message", "text/plain", 3, data),))
    return started, done


def test_an_inline_result_travels_in_the_workers_event() -> None:
    started, done = _completed(b"\x00hi")
    state = JobEvent.from_json(phase_event(done, with_state=True).to_json()).state
    assert state is not None
    moved = apply_run_state(started, state)
    assert moved == done and moved is not None and moved.results[0].data == b"\x00hi"


def test_an_event_of_an_earlier_version_still_moves_the_job() -> None:
    # Four fields per result, as workers before inline results sent them: read as a result in the storage.
    started, done = _completed(None)
    event = phase_event(done, with_state=True).to_json().replace(b',null]]', b']]')
    assert b'"text/plain",3]]' in event
    state = JobEvent.from_json(event).state
    assert state is not None
    assert apply_run_state(started, state) == done


def test_the_stored_record_keeps_the_bytes() -> None:
    result = JobResult("message", "echo/j1/message", "text/plain", 3, b"\xffab")
    assert JobResult.from_record(result.record()) == result
    assert "data" not in JobResult("m", "k").record()  # a stored result's record is as before
