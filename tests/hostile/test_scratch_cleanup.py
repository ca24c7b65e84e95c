"""Scratch files do not outlive their job: ABORT and DELETE of a running job remove its scratch
directory (the embedded supervisor, or the Celery worker's main process after its revoke SIGKILLed the
job), and the directories nothing removed are swept at start and by every cleanup pass
(``spt-api cleanup``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spt_api.config import Settings
from spt_api.db import JobStore, create_job_store
from spt_api.scratch import job_scratch_dir, sweep_orphans
from tests.api.uws_helpers import job_id_of, wait_for_phase
from tests.conftest import cutout_maps, embedded_settings
from tests.support._proc import wait_until
from tests.support.principals import ANONYMOUS, SYSTEM
from tests.support.server import RunningServer, start_server

#: Positions of the job: enough that it is still bundling when it is stopped.
POSITIONS = 400


@pytest.fixture(scope="module")
def unsplit_server(tmp_path_factory: pytest.TempPathFactory, demo_maps: Path) -> Iterator[RunningServer]:
    """An embedded server that runs a 400-position cutout job as one job (no fan-out)."""
    settings = embedded_settings(
        tmp_path_factory.mktemp("scratch"), service_settings=cutout_maps(demo_maps), fan_out_chunk=10_000
    )
    server, stop = start_server(settings)
    yield server
    stop()


def _bundling_job(server: RunningServer, demo_maps: Path) -> tuple[str, Path]:
    """A running cutout job with ``bundle=zip`` whose bundle is being written; its URL and scratch dir."""
    sources = json.loads((demo_maps / "sources.json").read_text())["sources"]
    positions = [sources[i % len(sources)] for i in range(POSITIONS)]
    body = "&".join(f"POS=CIRCLE+{s['ra']}+{s['dec']}+0.05" for s in positions) + "&band=150&bundle=zip&PHASE=RUN"
    with server.client() as client:
        created = client.post(
            server.jobs_url("cutout"), content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
    assert created.status_code == 303, created.text
    job_url = created.headers["Location"]
    scratch = job_scratch_dir(server.settings, job_id_of(job_url))
    wait_until(lambda: (scratch / "cutouts.zip").exists(), timeout=60, what="the bundle in scratch",
               error=AssertionError, interval=0.01)
    return job_url, scratch


@pytest.mark.parametrize("stop", ["DELETE", "ABORT"])
def test_stopping_a_running_job_removes_its_scratch(unsplit_server: RunningServer, demo_maps: Path, stop: str) -> None:
    job_url, scratch = _bundling_job(unsplit_server, demo_maps)
    with unsplit_server.client() as client:
        if stop == "DELETE":
            response = client.delete(job_url)
        else:
            response = client.post(f"{job_url}/phase", data={"PHASE": "ABORT"})
    assert response.status_code == 303, response.text
    wait_until(lambda: not scratch.exists(), timeout=30, what="the scratch directory removed", error=AssertionError)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    job_store = create_job_store(Settings(data_dir=tmp_path).effective_database_url)
    yield job_store
    job_store.engine.dispose()


def _job(store: JobStore, phase: str) -> str:
    job = store.create(ANONYMOUS, service="echo", parameters=[], execution_duration=60, destruction_time=None,
                       queued=phase != "PENDING")
    if phase == "EXECUTING":
        assert store.claim(SYSTEM, job.job_id, "worker-1") is not None
    return job.job_id


def _scratch_dirs(settings: Settings, job_ids: dict[str, str], age: float) -> None:
    """A scratch directory with a file for each job, last touched ``age`` seconds ago."""
    for job_id in job_ids.values():
        directory = job_scratch_dir(settings, job_id)
        directory.mkdir(parents=True)
        (directory / "cutouts.zip").write_bytes(b"PK")
        then = time.time() - age
        os.utime(directory, (then, then))


def _left(settings: Settings, job_ids: dict[str, str]) -> set[str]:
    return {name for name, job_id in job_ids.items() if job_scratch_dir(settings, job_id).exists()}


def _orphans_and_owner(store: JobStore) -> dict[str, str]:
    return {
        "running": _job(store, "EXECUTING"),
        "queued": _job(store, "QUEUED"),  # a requeued job of a dead worker starts afresh
        "pending": _job(store, "PENDING"),
        "gone": "0123456789abcdef0123",
    }


def test_the_sweep_removes_the_scratch_of_every_job_not_executing(tmp_path: Path, store: JobStore) -> None:
    settings = Settings(data_dir=tmp_path)
    jobs = _orphans_and_owner(store)
    _scratch_dirs(settings, jobs, age=3600)
    assert sorted(sweep_orphans(settings, store)) == sorted(jobs[name] for name in ("queued", "pending", "gone"))
    assert _left(settings, jobs) == {"running"}


def test_the_sweep_spares_a_directory_made_a_moment_ago(tmp_path: Path, store: JobStore) -> None:
    """Its job may have been claimed between the sweep's read of its phase and the removal."""
    settings = Settings(data_dir=tmp_path)
    jobs = {"gone": "0123456789abcdef0123"}
    _scratch_dirs(settings, jobs, age=0)
    assert sweep_orphans(settings, store) == []
    assert _left(settings, jobs) == {"gone"}


def test_spt_api_cleanup_sweeps_orphaned_scratch(tmp_path: Path, store: JobStore) -> None:
    settings = Settings(data_dir=tmp_path)
    jobs = _orphans_and_owner(store)
    _scratch_dirs(settings, jobs, age=3600)
    env: dict[str, Any] = {k: v for k, v in os.environ.items() if not k.startswith("SPT_API_")}
    env["SPT_API_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "spt_api", "cleanup"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert _left(settings, jobs) == {"running"}
    assert json.loads(done.stdout.strip().splitlines()[-1])["swept"] == 3


def test_aborting_a_running_job_removes_its_scratch_on_either_backend(server: RunningServer) -> None:
    """On Celery the revoke SIGKILLs the job's pool process; the worker's main process removes the
    directory (the API's sweep would spare one this young)."""
    job_url = server.create_job("echo", run=True, message="scratch", delay=30, steps=60)
    with server.client() as client:
        wait_for_phase(client, job_url, {"EXECUTING"})
        # What a job writing its scratch looks like (echo writes none of its own); workers and API share
        # this data directory in the tests.
        scratch = job_scratch_dir(server.settings, job_id_of(job_url))
        scratch.mkdir(parents=True, exist_ok=True)
        (scratch / "cutouts.zip").write_bytes(b"PK")
        assert client.post(f"{job_url}/phase", data={"PHASE": "ABORT"}).status_code == 303
    wait_until(lambda: not scratch.exists(), timeout=30, what="the scratch directory removed", error=AssertionError)
