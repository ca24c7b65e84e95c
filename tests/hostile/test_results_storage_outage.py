"""While S3 is down, a result link answers 503 (naming the storage), not a redirect to the dead endpoint.

Presigning needs no network, so before, ``GET …/results/{id}`` kept answering 303 to an S3 that
``/health`` already knew was failing. The answer now comes from the storage's last known health
(checked at most every few seconds, not once per request), and recovers by itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from spt_api.config import Settings
from tests.api.uws_helpers import JSON
from tests.support._proc import wait_until
from tests.support.s3server import SeaweedS3
from tests.support.server import RunningServer, start_server


@pytest.fixture
def s3() -> Iterator[SeaweedS3]:
    """An S3 server of the test's own: it is stopped and started again."""
    with SeaweedS3(bucket="spt-results-outage") as server:
        yield server


@pytest.fixture
def server(s3: SeaweedS3, tmp_path: Path) -> Iterator[RunningServer]:
    # The embedded pool writes the results to S3 as a Celery worker would; no broker is needed here.
    settings = Settings(
        data_dir=tmp_path,
        storage_url=f"s3://{s3.bucket}/outage",
        s3_endpoint_url=s3.endpoint_url,
        s3_access_key_id=s3.access_key,
        s3_secret_access_key=s3.secret_key,
        embedded_pool_size=1,
        wait_max=30,
        reconcile_interval=0,
    )
    running, stop = start_server(settings)
    yield running
    stop()


def _result(client: httpx.Client, href: str, **headers: str) -> httpx.Response:
    return client.get(href, headers=headers)


def _until(check: Any, what: str) -> Any:
    return wait_until(check, timeout=20, what=what, error=AssertionError)


def test_result_link_answers_503_while_s3_is_down(server: RunningServer, s3: SeaweedS3) -> None:
    # The blob (8 KiB) goes to S3; the message, under SPT_API_INLINE_RESULT_MAX, is kept with the job.
    job = server.wait_final(server.create_job("echo", run=True, message="kept in s3", size=8192))
    assert job["phase"] == "COMPLETED", job
    hrefs = {r["id"]: r["href"] for r in job["results"]}
    href, inline = hrefs["blob"], hrefs["message"]
    with server.client() as client:
        assert _result(client, href).status_code == 303
        assert _result(client, inline).status_code == 200  # served by the API: no storage to redirect to

        s3.stop()
        try:
            # Within the storage check's interval, the link stops pointing at the dead endpoint.
            response = _until(lambda: (r := _result(client, href, **JSON)).status_code == 503 and r, "503 for results")
            body = response.json()
            assert body["status"] == 503 and body["error"] == "service_unavailable", body
            assert "result storage" in body["message"], body
            assert int(response.headers["Retry-After"]) > 0
            plain = _result(client, href)
            assert plain.status_code == 503 and plain.text.startswith("Error: ") and "storage" in plain.text
            health = client.get(server.base_url + "/health").json()
            assert health["components"]["storage"]["status"] == "fail", health
            # The job itself is still readable: only what needs the storage says 503.
            assert client.get(job["href"], headers=JSON).status_code == 200
            kept = _result(client, inline)
            assert kept.status_code == 200 and kept.content == b"kept in s3", kept.text
        finally:
            s3.start()

        _until(lambda: _result(client, href).status_code == 303, "303 again after S3 returned")
    with httpx.Client(follow_redirects=True, timeout=30) as direct:
        blob = direct.get(href).content
        assert len(blob) == 8192 and blob.startswith(b"kept in s3kept in s3"), blob[:40]


def test_storage_health_checks_at_most_once_per_interval() -> None:
    from spt_api.storage.health import StorageHealth

    now = [0.0]
    calls: list[float] = []
    failing = [True]

    def check() -> None:
        calls.append(now[0])
        if failing[0]:
            raise ConnectionError("s3 is down")

    health = StorageHealth(check, interval=2.0, clock=lambda: now[0])
    assert health.problem() == "ConnectionError: s3 is down"
    for _ in range(50):
        assert health.problem() == "ConnectionError: s3 is down"
    assert calls == [0.0]
    failing[0] = False
    now[0] = 2.5
    assert health.problem() is None
    assert calls == [0.0, 2.5]
    # The readiness probe checks afresh, and what it finds is what the next request sees.
    failing[0] = True
    with pytest.raises(ConnectionError):
        health.check()
    assert health.problem() == "ConnectionError: s3 is down"
