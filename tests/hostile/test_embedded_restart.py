"""An embedded server killed mid-job (its main process alone, or its whole process group) runs the job
again as soon as it is back: at start, not after the heartbeat timeout (an hour here).

Killing the main process alone leaves its pool child orphaned: the child must not record the job as
ERROR (its next event hits a broken pipe), but exit and leave it EXECUTING for the next start.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from spt_api.uws.phases import ExecutionPhase
from tests.api.uws_helpers import get_job, job_id_of, wait_until_final
from tests.hostile.api_process import ApiProcess
from tests.support._proc import wait_until
from tests.support.principals import SYSTEM

#: Four seconds of work in eight steps: an event every half second, so an orphan meets the broken pipe.
JOB = {"message": "survivor", "delay": "4", "steps": "8", "PHASE": "RUN"}


def _kill_main(api: ApiProcess) -> None:
    api.kill_main()


def _kill_group(api: ApiProcess) -> None:
    api.kill_group()


@pytest.mark.parametrize("kill", [_kill_main, _kill_group], ids=["main-process", "process-group"])
def test_a_job_killed_with_its_server_runs_again_at_restart(
    tmp_path: Path, kill: Callable[[ApiProcess], None]
) -> None:
    with ApiProcess(tmp_path) as api:
        api.start()
        with api.client() as client:
            created = client.post(api.jobs_url(), data=JOB)
            assert created.status_code == 303, created.text
            job_url = created.headers["Location"].replace(api.base_url, "")
            wait_until(
                lambda: (get_job(client, job_url).get("progress") or {}).get("done", 0) >= 1,
                timeout=30, what="the job mid-way", error=AssertionError,
            )
        kill(api)
        api.start()
        with api.client() as client:
            try:
                job = wait_until_final(client, job_url, timeout=60)
            except AssertionError:
                print(api.log_tail())
                raise
        assert job["phase"] == "COMPLETED", job
        store = api.store()
        try:
            stored = store.get(SYSTEM, job_id_of(job_url))
        finally:
            store.engine.dispose()
        assert stored is not None and stored.phase == ExecutionPhase.COMPLETED
        assert stored.attempts == 2, stored  # run once more, by the new server's pool
