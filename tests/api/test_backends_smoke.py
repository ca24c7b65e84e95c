"""One echo job end to end on each backend: create with PHASE=RUN, WAIT, download the result."""

from __future__ import annotations

import httpx

from tests.support.server import RunningServer


def test_echo_job_completes_and_result_downloads(server: RunningServer) -> None:
    job_url = server.create_job("echo", run=True, message="hello backends", size=1000)
    job = server.wait_final(job_url)
    assert job["phase"] == "COMPLETED", job
    results = {r["id"]: r for r in job["results"]}
    assert set(results) == {"message", "blob"}
    assert results["blob"]["size"] == 1000
    with httpx.Client(follow_redirects=True, timeout=30) as client:
        body = client.get(results["message"]["href"])
    assert body.status_code == 200
    assert body.content == b"hello backends"
