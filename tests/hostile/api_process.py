"""``spt-api serve`` in a process group of its own, to kill for real (main only, or all): embedded by
default, a Celery API with a production environment (``SPT_API_BROKER_URL`` and the rest) passed in.

The reconciler is kept out of the way (``SPT_API_HEARTBEAT_TIMEOUT`` and ``SPT_API_RECONCILE_INTERVAL``
of an hour), so that a job run again after a restart was rescued by the start-up recovery alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from spt_api.db import JobStore, create_job_store
from tests.support._proc import free_port, read_log_tail, wait_until

__all__ = ["ApiProcess"]

#: An hour: far beyond any test, so the reconciler never rescues a job here.
NEVER = "3600"


class ApiProcess:
    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SPT_API_")},
            "SPT_API_DATA_DIR": str(data_dir),
            "SPT_API_SERVICES": "echo,cutout",
            "SPT_API_EMBEDDED_POOL_SIZE": "1",
            "SPT_API_HEARTBEAT_INTERVAL": "1",
            "SPT_API_HEARTBEAT_TIMEOUT": NEVER,
            "SPT_API_RECONCILE_INTERVAL": NEVER,
            "SPT_API_LOG_LEVEL": "INFO",
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.base_url = ""
        self.starts = 0
        #: The process groups started: orphans of a killed start live on in theirs.
        self.groups: list[int] = []

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"api-{self.starts}.log"

    def start(self) -> ApiProcess:
        self.starts += 1
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "spt_api", "serve", "--port", str(port)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.groups.append(self.proc.pid)
        wait_until(
            lambda: httpx.get(f"{self.base_url}/health/ready", timeout=2).status_code == 200,
            timeout=60, what="the API", proc=self.proc, log_path=self.log_path,
        )
        return self

    def jobs_url(self, service: str = "echo") -> str:
        return f"{self.base_url}/api/{service}/jobs"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=60)

    def store(self) -> JobStore:
        default = f"sqlite:///{(self.data_dir / 'jobs.sqlite').resolve()}"
        return create_job_store(self.env.get("SPT_API_DATABASE_URL") or default, run_migrations=False)

    def kill_main(self) -> None:
        """SIGKILL the API process alone: its pool children live on, orphaned."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def kill_group(self) -> None:
        """SIGKILL the API process and its pool children at once."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def close(self) -> None:
        """Kill every process group started, with whatever orphans of a killed start live on."""
        for group in self.groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)

    def log_tail(self) -> str:
        """The tail of each start's log."""
        return "\n".join(
            f"--- start {n} ---\n{read_log_tail(self.data_dir / f'api-{n}.log')}" for n in range(1, self.starts + 1)
        )

    def __enter__(self) -> ApiProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
