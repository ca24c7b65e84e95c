"""Fix 6: stopping the API answers the WAITs in flight with the job as it is, not with a 500."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from spt_api.testing import start_server_thread
from tests.api.uws_helpers import JSON
from tests.conftest import embedded_settings


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
        deadline = time.monotonic() + 10
        while server.backends.lifecycle.active == 0:  # the WAIT is blocked in the server
            assert time.monotonic() < deadline, "the WAIT never reached the server"
            time.sleep(0.01)
        server.stop()
        stopped = True
        waiter.join(30)
    finally:
        if not stopped:
            server.stop()
    assert answer.get("status") == 200, answer
    assert "PENDING" in answer["text"]
    assert answer["seconds"] < 15, answer
