"""Several API processes (``spt-api serve --workers 2``): a change made through one wakes WAITs held by the other."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ProductionInfra
from tests.support._proc import free_port, wait_until
from tests.support.celery_worker import CeleryWorker

#: Far below the 5 s after which a WAIT re-reads the job by itself: a return this fast came from an event.
EVENT_DEADLINE = 2.0


@pytest.fixture(scope="module")
def two_process_api(production_infra: ProductionInfra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir: Path = tmp_path_factory.mktemp("multi")
    env = {**os.environ, **production_infra.env(SPT_API_DATA_DIR=str(data_dir))}
    worker = CeleryWorker(production_infra.env(SPT_API_DATA_DIR=str(data_dir)), queues="echo", name="multi").start()
    port = free_port()
    log = (data_dir / "api.log").open("wb")
    api = subprocess.Popen(
        [sys.executable, "-m", "spt_api", "serve", "--port", str(port), "--workers", "2"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until(
        lambda: httpx.get(f"{base}/health/live", timeout=2).status_code == 200,
        timeout=60, what="the API processes", proc=api, log_path=data_dir / "api.log",
    )
    try:
        yield base
    finally:
        os.killpg(api.pid, signal.SIGTERM)
        api.wait(30)
        worker.stop()


def test_two_api_processes_serve(two_process_api: str) -> None:
    pids = set()
    for _ in range(40):
        # A new connection each time, so the kernel hands requests to both processes.
        with httpx.Client(base_url=two_process_api, timeout=10) as client:
            pids.add(client.get("/health/live").json()["pid"])
    assert len(pids) == 2, pids


def test_wait_in_every_process_wakes_on_a_change(two_process_api: str) -> None:
    """Sixteen waiters on their own connections (spread by the kernel over both processes) all wake at once."""
    with httpx.Client(base_url=two_process_api, timeout=30) as client:
        job_url = client.post("/api/echo/jobs", data={"message": "multi", "delay": "1"}).headers["Location"]
    returned: list[tuple[float, str]] = []
    ready = threading.Barrier(17)

    def wait() -> None:
        with httpx.Client(timeout=60) as waiter:
            ready.wait()
            response = waiter.get(
                job_url, params={"WAIT": 30, "PHASE": "PENDING"}, headers={"Accept": "application/json"}
            )
            returned.append((time.monotonic(), response.json()["phase"]))

    threads = [threading.Thread(target=wait) for _ in range(16)]
    for thread in threads:
        thread.start()
    ready.wait()
    with httpx.Client(timeout=30) as client:
        changed = time.monotonic()
        assert client.post(f"{job_url}/phase", data={"PHASE": "RUN"}).status_code == 303
    for thread in threads:
        thread.join(40)
    assert len(returned) == 16
    # A waiter that read the job after the change returns at once (PHASE=PENDING); one that read it
    # before sleeps until an event wakes it: either way, well before the 5 s safety re-read.
    assert all(phase != "PENDING" for _, phase in returned)
    assert max(at for at, _ in returned) - changed < EVENT_DEADLINE
