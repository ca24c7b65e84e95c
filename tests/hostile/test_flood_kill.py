"""The API killed in the middle of a flood of submissions (its whole process group, SIGKILL): the
clients that got a connection error retry with their ``Idempotency-Key`` once it is back, and every
job ends COMPLETED, once each: none stored but never sent (no reconciler here), none duplicated."""

from __future__ import annotations

import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.api.uws_helpers import wait_until_final
from tests.conftest import ProductionInfra
from tests.hostile.api_process import ApiProcess
from tests.support.principals import SYSTEM

#: Submissions in the flood, and how many are answered before the kill.
FLOOD = 120
KILL_AT = 30
CLIENTS = 8
#: Each job's work: the embedded pool (one process) still has a backlog when the kill comes.
DELAY = "0.1"


@pytest.fixture(params=["embedded", "production"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> ApiProcess:
    if request.param == "embedded":
        return ApiProcess(tmp_path)
    infra: ProductionInfra = request.getfixturevalue("production_infra")
    request.getfixturevalue("celery_worker")
    return ApiProcess(tmp_path, infra.env(SPT_API_DATA_DIR=str(tmp_path)))


def _submit(api: ApiProcess, key: str) -> str:
    data = {"message": key, "delay": DELAY, "PHASE": "RUN"}
    response = httpx.post(api.jobs_url(), data=data, headers={"Idempotency-Key": key}, timeout=30)
    assert response.status_code == 303, response.text
    return response.headers["Location"].replace(api.base_url, "")


def test_a_flood_cut_by_a_kill_loses_and_duplicates_nothing(api: ApiProcess) -> None:
    prefix = secrets.token_hex(4)
    keys = [f"{prefix}-{i}" for i in range(FLOOD)]
    answered: dict[str, str] = {}
    lock = threading.Lock()

    def submit(key: str) -> None:
        try:
            location = _submit(api, key)
        except httpx.TransportError:
            return  # the API is gone: this client retries later
        with lock:
            answered[key] = location
            if len(answered) == KILL_AT:
                api.kill_group()

    with api:
        api.start()
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(submit, keys))
        unanswered = [key for key in keys if key not in answered]
        assert unanswered, "the kill came after the flood"
        api.start()
        retried = {key: _submit(api, key) for key in keys}
        assert {key: retried[key] for key in answered} == answered  # a retry gets the job the first try made
        with api.client() as client:
            try:
                jobs = {key: wait_until_final(client, url, timeout=120) for key, url in retried.items()}
            except AssertionError:
                print(api.log_tail())
                raise
        store = api.store()
        try:
            stored = [job for job in store.list(SYSTEM, service="echo", limit=100_000)
                      if dict(job.parameters).get("message", "").startswith(prefix)]
        finally:
            store.engine.dispose()
    assert {key: job["phase"] for key, job in jobs.items()} == dict.fromkeys(keys, "COMPLETED")
    assert sorted(dict(job.parameters)["message"] for job in stored) == sorted(keys)  # once each
