"""pyvo, unmodified, reads every document and drives jobs (``pyvo.io.uws``, ``AsyncTAPJob``)."""

from __future__ import annotations

import io

import httpx
import pytest
from pyvo.dal import DALQueryError
from pyvo.dal.tap import AsyncTAPJob
from pyvo.io import uws

from tests.api.uws_helpers import get_job, job_id_of, wait_for_phase, wait_until_final
from tests.support.server import RunningServer


def parse(client: httpx.Client, url: str) -> uws.JobSummary:
    response = client.get(url)
    assert response.status_code == 200
    return uws.parse_job(io.BytesIO(response.content))


def test_parse_pending_job(server: RunningServer, client: httpx.Client) -> None:
    url = server.create_job(message="pyvo pending", RUNID="pyvo-run")
    job = parse(client, url)
    assert job.jobid == job_id_of(url)
    assert job.runid == "pyvo-run"
    assert job.phase == "PENDING"
    assert job.version == "1.1"
    assert job.creationtime is not None
    assert job.starttime is None and job.endtime is None
    assert job.destruction is not None
    assert job.executionduration is not None
    assert round(job.executionduration.sec) == get_job(client, url)["executionDuration"]
    params = {p.id_: p.content for p in job.parameters}
    assert params == {"message": "pyvo pending"}
    assert job.results == []
    assert job.errorsummary is None


def test_parse_completed_job(server: RunningServer, client: httpx.Client) -> None:
    url = server.create_job(run=True, message="pyvo done", size=10)
    assert wait_until_final(client, url)["phase"] == "COMPLETED"
    job = parse(client, url)
    assert job.phase == "COMPLETED"
    assert job.starttime is not None and job.endtime is not None
    assert job.starttime <= job.endtime
    results = {r.id_: r.href for r in job.results}
    assert results == {"message": f"{url}/results/message", "blob": f"{url}/results/blob"}


def test_parse_error_job(server: RunningServer, client: httpx.Client) -> None:
    url = server.create_job(run=True, message="pyvo boom", fail="true")
    assert wait_until_final(client, url)["phase"] == "ERROR"
    job = parse(client, url)
    assert job.phase == "ERROR"
    assert job.errorsummary is not None
    assert job.errorsummary.type_ == "fatal"
    assert job.errorsummary.has_detail is True
    assert "pyvo boom" in job.errorsummary.message.content


def test_parse_job_list(server: RunningServer, client: httpx.Client) -> None:
    url = server.create_job(message="listed", RUNID="in-list")
    response = client.get(server.jobs_url(), params={"LAST": 10})
    jobs = uws.parse_job_list(io.BytesIO(response.content))
    ours = next(j for j in jobs if j.jobid == job_id_of(url))
    assert ours.phase == "PENDING"
    assert ours.runid == "in-list"
    assert ours.creationtime is not None


def test_parse_aborted_and_archived_jobs(server: RunningServer, client: httpx.Client) -> None:
    url = server.create_job(message="aborted by pyvo test")
    client.post(f"{url}/phase", data={"PHASE": "ABORT"})
    job = parse(client, url)
    assert job.phase == "ABORTED"
    assert job.endtime is not None
    listed = uws.parse_job_list(io.BytesIO(client.get(server.jobs_url(), params={"PHASE": "ABORTED"}).content))
    assert job_id_of(url) in {j.jobid for j in listed}


def test_async_tap_job_lifecycle(server: RunningServer) -> None:
    url = server.create_job(message="driven by pyvo", delay=0.5, steps=2)
    job = AsyncTAPJob(url, delete=False)
    assert job.job_id == job_id_of(url)
    assert job.phase == "PENDING"
    assert job.uws_version == "1.1"
    job.execution_duration = 120
    assert round(job.execution_duration.sec) == 120
    job.run()
    job.wait(timeout=60)
    assert job.phase == "COMPLETED"
    assert [r.id_ for r in job.results] == ["message"]
    assert job.result_uris == [f"{url}/results/message"]
    # result_uri looks for a result named "result" (TAP); echo's result is "message".
    assert job.result_uri is None
    with httpx.Client(follow_redirects=True) as client:
        assert client.get(job.result_uris[0]).content == b"driven by pyvo"
    job.raise_if_error()
    job.delete()
    with server.client() as client:
        assert client.get(url).status_code == 404


def test_async_tap_job_abort(server: RunningServer) -> None:
    url = server.create_job(run=True, message="to abort", delay=60, steps=60)
    with server.client() as client:
        wait_for_phase(client, url, {"EXECUTING"})
    job = AsyncTAPJob(url, delete=False)
    assert job.phase == "EXECUTING"
    job.abort()
    # ABORT answers once the job is ABORTED (pyvo's wait() refuses to wait on an ABORTED job).
    assert job.phase == "ABORTED"
    with pytest.raises(DALQueryError):
        job.raise_if_error()


def test_async_tap_job_error(server: RunningServer) -> None:
    url = server.create_job(message="pyvo fails", fail="true")
    with AsyncTAPJob(url) as job:
        job.run()
        job.wait(timeout=60)
        assert job.phase == "ERROR"
        with pytest.raises(DALQueryError, match="pyvo fails"):
            job.raise_if_error()
    # The context manager deleted the job.
    with server.client() as client:
        assert client.get(url).status_code == 404
