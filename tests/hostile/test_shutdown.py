"""Fix 6: stopping the API answers the WAITs in flight with the job as it is, not with a 500."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from spt_api.testing import start_server_thread
from tests.api.uws_helpers import JSON
from tests.conftest import embedded_settings
from tests.support._proc import free_port, wait_until


@pytest.mark.parametrize("accept", [JSON, {}], ids=["json", "xml"])
def test_stopping_answers_a_wait_in_flight(tmp_path: Path, accept: dict[str, str]) -> None:
    server = start_server_thread(embedded_settings(tmp_path, embedded_pool_size=1, reconcile_interval=0))
    stopped = False
    try:
        with httpx.Client(base_url=server.base_url, timeout=20) as client:
            created = client.post("/api/echo/jobs", data={"message": "waiting"})
            job_url = created.headers["Location"]
        answer: dict[str, Any] = {}

        def wait() -> None:
            started = time.monotonic()
            try:
                response = httpx.get(job_url, params={"WAIT": "30"}, headers=accept, timeout=20)
                answer.update(status=response.status_code, text=response.text)
            except httpx.HTTPError as exc:
                answer.update(error=repr(exc))
            answer["seconds"] = time.monotonic() - started

        waiter = threading.Thread(target=wait)
        waiter.start()
        wait_until(lambda: server.backends.lifecycle.active > 0, timeout=10, what="the WAIT blocked in the server",
                   interval=0.01)
        server.stop()
        stopped = True
        waiter.join(30)
    finally:
        if not stopped:
            server.stop()
    assert answer.get("status") == 200, answer
    assert "PENDING" in answer["text"]
    assert answer["seconds"] < 15, answer


def test_sigterm_answers_a_wait_in_flight_and_exits(tmp_path: Path) -> None:
    """The real thing: ``spt-api serve`` gets SIGTERM while a client's WAIT is held."""
    port = free_port()
    env = {**os.environ, "SPT_API_DATA_DIR": str(tmp_path), "SPT_API_EMBEDDED_POOL_SIZE": "1",
           "SPT_API_RECONCILE_INTERVAL": "0"}
    log_path = tmp_path / "api.log"
    with log_path.open("wb") as log:
        api = subprocess.Popen(
            [sys.executable, "-m", "spt_api", "serve", "--port", str(port), "--workers", "1"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{base}/health/live", timeout=2).status_code == 200,
                   timeout=60, what="spt-api serve", proc=api, log_path=log_path)
        job_url = httpx.post(f"{base}/api/echo/jobs", data={"message": "sigterm"}).headers["Location"]
        answer: dict[str, Any] = {}

        def wait() -> None:
            try:
                response = httpx.get(job_url, params={"WAIT": "30"}, headers=JSON, timeout=20)
                answer.update(status=response.status_code, body=response.json())
            except (httpx.HTTPError, ValueError) as exc:
                answer.update(error=repr(exc))

        waiter = threading.Thread(target=wait)
        waiter.start()
        wait_until(lambda: "spt_http_waits_in_flight 1.0" in httpx.get(f"{base}/metrics", timeout=5).text,
                   timeout=10, what="the WAIT held by the server", proc=api, log_path=log_path)
        os.killpg(api.pid, signal.SIGTERM)
        waiter.join(30)
        assert api.wait(30) == 0, log_path.read_text()[-2000:]
    finally:
        if api.poll() is None:
            os.killpg(api.pid, signal.SIGKILL)
            api.wait(10)
    assert answer.get("status") == 200, (answer, log_path.read_text()[-2000:])
    assert answer["body"]["phase"] == "PENDING"
