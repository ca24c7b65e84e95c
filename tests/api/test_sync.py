"""DALI sync for every service: the request makes a job the workers run, and the same exchange answers it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from spt_api.testing import ServerThread, start_server_thread
from tests.api.uws_helpers import JSON, job_id_of
from tests.conftest import embedded_settings
from tests.support._proc import wait_until
from tests.support.server import RunningServer


def test_one_result_is_the_answer(server: RunningServer) -> None:
    with server.client() as client:
        response = client.get(f"{server.api}/echo/sync", params={"message": "hello sync"})
        assert response.status_code == 200, response.text
        assert response.content == b"hello sync"
        assert response.headers["Content-Type"].startswith("text/plain")
        assert 'filename="message"' in response.headers["Content-Disposition"]
        posted = client.post(f"{server.api}/echo/sync", data={"message": "posted"})
        assert (posted.status_code, posted.content) == (200, b"posted")


def test_a_sync_job_is_a_job_like_any_other(server: RunningServer) -> None:
    with server.client() as client:
        response = client.get(f"{server.api}/echo/sync", params={"message": "kept", "RUNID": "sync-kept"})
        assert response.status_code == 200
        listed = client.get(server.jobs_url("echo"), headers=JSON).json()["jobs"]
        mine = [j for j in listed if j["runId"] == "sync-kept"]
        assert len(mine) == 1 and mine[0]["phase"] == "COMPLETED"
        result = client.get(f"{mine[0]['href']}/results/message", follow_redirects=True)
        assert result.content == b"kept"


def test_several_results_answer_with_the_results_list(server: RunningServer) -> None:
    with server.client() as client:
        response = client.get(f"{server.api}/echo/sync", params={"message": "two", "size": "10"})
        assert response.status_code == 303
        assert response.headers["Location"].endswith("/results")
        results = client.get(response.headers["Location"], headers=JSON).json()
        assert sorted(r["id"] for r in results) == ["blob", "message"]


@pytest.mark.parametrize(
    ("params", "status", "text"),
    [
        # Refused before any job exists: the parameters are validated as for an async job.
        ({"message": "x", "delay": "-1"}, 400, "delay"),
        ({"colour": "blue"}, 400, "colour"),
        # The job ran and failed by the user's request: the job's error summary, as a 400.
        ({"message": "boom", "fail": "true"}, 400, "failed on request: boom"),
    ],
)
def test_errors_are_dali_error_documents(
    server: RunningServer, params: dict[str, str], status: int, text: str
) -> None:
    with server.client() as client:
        plain = client.get(f"{server.api}/echo/sync", params=params)
        assert plain.status_code == status
        assert plain.text.startswith("UsageError:") and text in plain.text
        as_json = client.get(f"{server.api}/echo/sync", params=params, headers=JSON)
        assert as_json.status_code == status and text in as_json.json()["message"]


def test_unknown_service_is_404(server: RunningServer) -> None:
    with server.client() as client:
        assert client.get(f"{server.api}/nosuch/sync").status_code == 404


@pytest.fixture
def impatient_server(tmp_path: Path) -> Iterator[ServerThread]:
    """Sync requests wait at most 0.5 s for their job, and at most one at a time."""
    server = start_server_thread(embedded_settings(tmp_path, sync_timeout=0.5, sync_max=1))
    yield server
    server.stop()


def test_a_job_longer_than_the_sync_timeout_answers_with_its_url(impatient_server: ServerThread) -> None:
    with httpx.Client(base_url=impatient_server.base_url, timeout=30) as client:
        response = client.get("/api/echo/sync", params={"message": "slow", "delay": "30"})
        assert response.status_code == 303
        job_url = response.headers["Location"]
        assert "/api/echo/jobs/" in job_url
        job: dict[str, Any] = client.get(job_url, headers=JSON).json()
        assert job["phase"] in ("QUEUED", "EXECUTING")  # it runs on
        client.post(f"{job_url}/phase", data={"PHASE": "ABORT"})


def test_too_many_sync_requests_get_429_with_retry_after(impatient_server: ServerThread) -> None:
    answers: list[httpx.Response] = []
    with httpx.Client(base_url=impatient_server.base_url, timeout=30) as client:
        holder = threading.Thread(
            target=lambda: answers.append(client.get("/api/echo/sync", params={"message": "hold", "delay": "30"}))
        )
        holder.start()
        wait_until(lambda: impatient_server.backends.sync.in_flight == 1, timeout=30, what="one sync request held")
        refused = client.get("/api/echo/sync", params={"message": "second"}, headers=JSON)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "2"
        assert refused.json()["error"] == "too_many_requests"
        # The job API is not held up meanwhile.
        assert client.get("/health").status_code == 200
        holder.join(30)
        assert answers and answers[0].status_code == 303  # past the 0.5 s sync timeout
        client.post(f"{answers[0].headers['Location']}/phase", data={"PHASE": "ABORT"})
        assert job_id_of(answers[0].headers["Location"])


def test_a_votable_client_gets_a_votable_error(server: RunningServer) -> None:
    from xml.etree import ElementTree as ET

    with server.client() as client:
        response = client.get(
            f"{server.api}/echo/sync", params={"message": "boom", "fail": "true"},
            headers={"Accept": "application/x-votable+xml"},
        )
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/x-votable+xml")
    info = ET.fromstring(response.content).find(".//{http://www.ivoa.net/xml/VOTable/v1.3}INFO")
    assert info is not None and info.attrib == {"name": "QUERY_STATUS", "value": "ERROR"}
    assert "failed on request: boom" in (info.text or "")


def test_the_api_process_runs_no_service_code(demo_maps: Path, tmp_path: Path) -> None:
    """A sync cutout is cut by a worker: astropy never loads into the API process."""
    import json
    import subprocess
    import sys

    source = json.loads((demo_maps / "sources.json").read_text())["sources"][0]
    script = f"""
import sys, httpx
from pathlib import Path
from spt_api.config import Settings
from spt_api.testing import start_server_thread
settings = Settings(data_dir=Path({str(tmp_path)!r}), reconcile_interval=0,
                    service_settings={{"cutout": {{"maps_url": {str(demo_maps)!r}}}}})
server = start_server_thread(settings)
try:
    answer = httpx.get(server.base_url + "/api/cutout/sync",
                       params={{"POS": "CIRCLE {source['ra']} {source['dec']} 0.05", "band": "150"}}, timeout=60)
    print(answer.status_code, answer.headers["Content-Type"], "astropy" in sys.modules, "matplotlib" in sys.modules)
finally:
    server.stop()
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-4:] == ["200", "application/fits", "False", "False"], done.stdout
