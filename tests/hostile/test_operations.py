"""Careless operations: the README's worker command line, and the embedded pool's backlog seen by the reconciler."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from spt_api.cli import build_parser
from spt_api.config import Settings
from spt_api.db import create_job_store
from spt_api.events import InProcessEventBus
from spt_api.maintenance import reconcile
from spt_api.uws.models import utcnow
from tests.support.principals import ANONYMOUS
from workers.embedded import EmbeddedDispatcher


def test_the_readmes_worker_command_parses() -> None:
    # `spt-api worker --queues echo,cutout -c 4` failed with "unrecognized arguments: -c".
    args = build_parser().parse_args(["worker", "--queues", "echo,cutout", "-c", "4"])
    assert (args.queues, args.concurrency) == ("echo,cutout", 4)


def test_the_reconciler_sees_the_embedded_backlog_under_the_jobs_queue(tmp_path: Path) -> None:
    """A busy pool's waiting jobs are counted under their own queue, so the reconciler does not resend them
    at every pass (it looked under the service's queue while the pool reported ``embedded``: 5, 10, 15...)."""
    settings = Settings(data_dir=tmp_path, heartbeat_timeout=1)
    store = create_job_store(settings.effective_database_url)
    bus = InProcessEventBus()
    pool = EmbeddedDispatcher(settings, store, bus)  # not started: nothing takes the jobs off its backlog
    long_ago = utcnow() - timedelta(minutes=10)
    jobs = [
        store.create(ANONYMOUS, service="echo", parameters=[], execution_duration=60, destruction_time=None,
                     queued=True, task_id=f"t{i}", creation_time=long_ago)
        for i in range(5)
    ]
    for job in jobs:
        pool.send(job)
    assert pool.queue_depths() == {"echo": 5}
    report = reconcile(settings, store, pool, bus)
    assert report.requeued == []
    assert pool.queue_depths() == {"echo": 5}


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_an_unknown_service_in_spt_api_services_stops_with_one_line(tmp_path: Path, command: str) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "SPT_API_SERVICES": "cutout,nosuch", "SPT_API_DATA_DIR": str(tmp_path), "SPT_API_PORT": "0",
           "SPT_API_BROKER_URL": "memory://" if command == "serve" else "redis://127.0.0.1:1/0"}
    done = subprocess.run([sys.executable, "-m", "spt_api", command], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 2
    assert "SPT_API_SERVICES names nosuch" in done.stderr and "installed: cutout, echo" in done.stderr
    assert "Traceback" not in done.stderr
