"""Jobs really running: completion with results, failure, executionDuration, ABORT (UWS §2.1.3-2.1.4)."""

from __future__ import annotations

import httpx

from tests.api.uws_helpers import (
    JSON,
    get_job,
    get_job_xml,
    parse_time,
    q,
    wait_for_phase,
    wait_until_final,
)
from tests.support.server import RunningServer


def test_echo_job_completes_with_results(server: RunningServer, client: httpx.Client) -> None:
    url = server.create_job(run=True, message="done!", size=300, delay=0.2, steps=2)
    job = wait_until_final(client, url)
    assert job["phase"] == "COMPLETED", job
    assert job["errorSummary"] is None
    start, end = parse_time(job["startTime"]), parse_time(job["endTime"])
    assert parse_time(job["creationTime"]) <= start <= end
    assert {r["id"]: r["size"] for r in job["results"]} == {"message": 5, "blob": 300}
    body = client.get(f"{url}/results/message", follow_redirects=True)
    assert body.content == b"done!"
    blob = client.get(f"{url}/results/blob", follow_redirects=True)
    assert blob.content == (b"done!" * 61)[:300]
    assert job["progress"] == {"done": 2, "total": 2, "message": "done"}
    root = get_job_xml(client, url)
    assert root.find(q("errorSummary")) is None
    assert client.get(f"{url}/error").status_code == 404


def test_failed_job_is_error_with_agreeing_summary(server: RunningServer, client: httpx.Client) -> None:
    url = server.create_job(run=True, message="boom", fail="true")
    job = wait_until_final(client, url)
    # UWS §2.2: a failed job is not an HTTP error; the job document is a 200 with phase ERROR.
    assert job["phase"] == "ERROR", job
    summary = job["errorSummary"]
    assert summary["type"] == "fatal"
    assert "failed on request: boom" in summary["message"]
    root = get_job_xml(client, url)
    element = root.find(q("errorSummary"))
    assert element is not None
    assert element.attrib["type"] == "fatal"
    assert element.attrib["hasDetail"] == "true"
    assert element.findtext(q("message")) == summary["message"]
    # pyvo#431: the error resource and the summary agree (DALI §4.2: /error is a 200, text/plain).
    error = client.get(f"{url}/error")
    assert error.status_code == 200
    assert error.headers["Content-Type"].startswith("text/plain")
    assert error.text.strip() == summary["message"]
    assert job["results"] == []
    assert job["endTime"] is not None


def test_execution_duration_is_enforced(server: RunningServer, client: httpx.Client) -> None:
    # UWS §2.1.4: overrunning executionDuration SHOULD abort the job, with the same effect as ABORT.
    response = client.post(
        server.jobs_url(),
        data={"message": "slow", "delay": "30", "steps": "30", "EXECUTIONDURATION": "1", "PHASE": "RUN"},
    )
    assert response.status_code == 303
    url = response.headers["Location"]
    assert get_job(client, url)["executionDuration"] == 1
    # The timeout only bounds a hung test. Had the limit not been enforced, the job would have run its
    # 30 s out and COMPLETED; by the server's own record it ended before (the bound is the job's
    # length, the other outcome, not a speed limit).
    job = wait_until_final(client, url, timeout=60)
    assert job["phase"] == "ABORTED", job
    assert (parse_time(job["endTime"]) - parse_time(job["startTime"])).total_seconds() < 30, job
    summary = job["errorSummary"]
    assert summary is not None
    assert "executionDuration" in summary["message"]
    error = client.get(f"{url}/error")
    assert error.status_code == 200
    assert error.text.strip() == summary["message"]
    assert job["endTime"] is not None
    get_job_xml(client, url)  # still schema-valid with an errorSummary on an ABORTED job


def test_abort_executing_job_and_pool_keeps_working(server: RunningServer, client: httpx.Client) -> None:
    url = server.create_job(run=True, message="long", delay=60, steps=60)
    wait_for_phase(client, url, {"EXECUTING"})
    response = client.post(f"{url}/phase", data={"PHASE": "ABORT"})
    assert response.status_code == 303
    assert response.headers["Location"] == url
    job = wait_until_final(client, url, timeout=30)
    assert job["phase"] == "ABORTED"
    # Stopped, not run out: by the server's own record it ended before its 60 s of work could have
    # (the bound is the job's length, the other outcome, not a speed limit).
    assert (parse_time(job["endTime"]) - parse_time(job["startTime"])).total_seconds() < 60, job
    assert job["endTime"] is not None
    # It stays ABORTED: the stopped worker does not complete it later.
    assert get_job(client, url, WAIT=1)["phase"] == "ABORTED"
    assert job["results"] == []
    # A second ABORT is not a legal transition from ABORTED (UWS §2.2: 403).
    again = client.post(f"{url}/phase", data={"PHASE": "ABORT"}, headers=JSON)
    assert again.status_code == 403
    # The pool still runs jobs, more of them than it has workers.
    later = [server.create_job(run=True, message=f"after abort {i}") for i in range(4)]
    for job_url in later:
        job = wait_until_final(client, job_url, timeout=60)
        assert job["phase"] == "COMPLETED", job


def test_abort_queued_or_pending_job(server: RunningServer, client: httpx.Client) -> None:
    url = server.create_job()
    assert client.post(f"{url}/phase", data={"PHASE": "abort"}).status_code == 303
    job = get_job(client, url)
    assert job["phase"] == "ABORTED"
    assert client.post(f"{url}/phase", data={"PHASE": "RUN"}, headers=JSON).status_code == 403


def test_run_via_phase_resource(server: RunningServer, client: httpx.Client) -> None:
    url = server.create_job(message="later")
    response = client.post(f"{url}/phase", data={"PHASE": "RUN"})
    assert response.status_code == 303
    assert response.headers["Location"] == url
    assert wait_until_final(client, url)["phase"] == "COMPLETED"
    # RUN of a COMPLETED job is illegal for the state.
    again = client.post(f"{url}/phase", data={"PHASE": "RUN"}, headers=JSON)
    assert again.status_code == 403
