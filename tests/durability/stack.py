"""The durability tests' miniature deployment and helpers (used by bench/kill_worker.py too).

A :class:`Stack` is one deployment in miniature: a PostgreSQL database, a Redis (broker
and events), an S3 bucket prefix, API servers in threads and ``spt-api worker``
subprocesses, all with short heartbeat and reconcile intervals so that a vanished
worker is noticed in seconds. Tests that restart or kill a backend get private
servers; nothing here touches the session-wide production fixture.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx

from tests.api import uws_helpers
from tests.api.uws_helpers import ACTIVE
from tests.support._proc import wait_until
from tests.support.celery_worker import CeleryWorker, ProductionBackends
from tests.support.pgserver import migrated_database
from tests.support.redisserver import PrivateRedis
from tests.support.s3server import SeaweedS3
from tests.support.server import RunningServer, start_server

#: Seconds: a worker silent this long has vanished (the worker heartbeats every second).
HEARTBEAT_TIMEOUT = 3


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy (exceptions count as "not yet"); return it."""
    return wait_until(check, timeout=timeout, what=what, interval=interval, error=AssertionError)


@dataclass
class Stack(ProductionBackends):
    storage_prefix: str = field(default_factory=lambda: f"dur-{uuid.uuid4().hex[:8]}")
    workers: list[CeleryWorker] = field(default_factory=list)
    _stops: list[Callable[[], None]] = field(default_factory=list)

    settings_defaults: ClassVar[dict[str, Any]] = {"heartbeat_timeout": HEARTBEAT_TIMEOUT, "max_attempts": 3}
    env_defaults: ClassVar[dict[str, str]] = {
        "SPT_API_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
        "SPT_API_MAX_ATTEMPTS": "3",
    }

    def worker(self, concurrency: int = 2, **env: str) -> CeleryWorker:
        worker = CeleryWorker(self.env(**env), queues="echo", concurrency=concurrency, name="dur").start()
        self.workers.append(worker)
        return worker

    def server(self, **overrides: Any) -> RunningServer:
        running, stop = start_server(self.settings(**overrides))
        self._stops.append(stop)
        return running

    def cli(self, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        """Run ``spt-api ARGS`` with this stack's environment."""
        return subprocess.run(
            [sys.executable, "-m", "spt_api", *args],
            env={**os.environ, **self.env(**env)},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def keys(self, job_id: str, service: str = "echo") -> list[str]:
        """The objects stored for a job, as keys relative to the stack's prefix."""
        client = self.s3.client()
        prefix = f"{self.storage_prefix}/{service}/{job_id}/"
        listed = client.list_objects_v2(Bucket=self.s3.bucket, Prefix=prefix)
        return sorted(obj["Key"].removeprefix(self.storage_prefix + "/") for obj in listed.get("Contents", []))

    def close(self) -> None:
        for worker in self.workers:
            with contextlib.suppress(Exception):
                worker.kill()
        for stop in reversed(self._stops):
            with contextlib.suppress(Exception):
                stop()


@contextlib.contextmanager
def private_stack(database: str, bucket: str) -> Iterator[Stack]:
    """A :class:`Stack` of its own (for the benches): a fresh, migrated database ``database`` on the machine's
    PostgreSQL, a private Redis and a SeaweedFS S3 server with ``bucket``; all of it gone when the block ends."""
    with migrated_database(database) as database_url, PrivateRedis() as redis_server, \
            SeaweedS3(bucket=bucket) as s3, tempfile.TemporaryDirectory() as tmp:
        stack = Stack(database_url, redis_server.url, s3, Path(tmp))
        try:
            yield stack
        finally:
            stack.close()


def get_job(server: RunningServer, job_url: str, **params: Any) -> dict[str, Any]:
    with server.client() as client:
        return uws_helpers.get_job(client, job_url, **params)


def wait_all_final(server: RunningServer, job_urls: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    """Every job's JSON once it is no longer active (WAIT requests, one job at a time)."""
    deadline = time.monotonic() + timeout
    done: dict[str, dict[str, Any]] = {}
    with server.client() as client:
        for url in job_urls:
            while True:
                try:
                    response = client.get(url, params={"WAIT": 5}, headers={"Accept": "application/json"})
                except httpx.TransportError:
                    response = None
                if response is not None and response.status_code == 200:
                    job = response.json()
                    if job["phase"] not in ACTIVE:
                        done[url] = job
                        break
                elif response is not None and response.status_code != 503:
                    raise AssertionError(f"GET {url}: {response.status_code} {response.text}")
                else:
                    time.sleep(0.2)  # sleep-ok: poll with a deadline while a backend is down (503)
                if time.monotonic() > deadline:
                    phases = {u: get_job(server, u)["phase"] for u in job_urls if u not in done}
                    raise AssertionError(f"jobs still active after {timeout:.0f} s: {phases}")
    return done


def post_form(client: httpx.Client, url: str, **data: Any) -> httpx.Response:
    return client.post(url, data={k: str(v) for k, v in data.items()}, headers={"Accept": "application/json"})


def metric_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Samples of metric ``name`` in a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    samples = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                samples.append((dict(sample.labels), float(sample.value)))
    return samples


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                lines.append(json.loads(line))
    return lines
