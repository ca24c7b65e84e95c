"""Submit-to-COMPLETED of a no-op ``echo`` job: p50/p95 and jobs/s, against the raw path.

- embedded: POST (PHASE=RUN) → WAIT → COMPLETED through HTTP + SQLite + the process pool,
  against the task function called through the same pool (store + dispatcher, no HTTP).
- celery: through HTTP + PostgreSQL + Celery/Redis with 2 worker processes, against raw
  Celery ``apply_async().get()`` of a no-op task on the same broker with 2 worker processes.

Usage: python bench/roundtrip.py [--backend embedded|celery|both] [--jobs 200] [--concurrency 8]
Goals (celery): p50 <= 1.5x raw, throughput >= 70% of raw.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from _common import ROOT, percentile, report  # type: ignore[import-not-found]

from spt_api.config import Settings

sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))


def _run_http_job(client: httpx.Client, jobs_url: str) -> float:
    start = time.perf_counter()
    response = client.post(jobs_url, data={"message": "x", "PHASE": "RUN"})
    assert response.status_code == 303, response.text
    job_url = response.headers["Location"]
    phase = "QUEUED"
    while phase in ("PENDING", "QUEUED", "EXECUTING"):
        doc = client.get(job_url, params={"WAIT": 30}, headers={"Accept": "application/json"}).json()
        phase = doc["phase"]
    assert phase == "COMPLETED", phase
    return time.perf_counter() - start


def measure(one: Any, jobs: int, concurrency: int) -> tuple[list[float], float]:
    """Latencies of ``jobs`` sequential runs, then jobs/s with ``concurrency`` in flight."""
    latencies = [one() for _ in range(max(20, jobs // 4))]
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: one(), range(jobs)))
    return latencies, jobs / (time.perf_counter() - start)


def _start_api(settings: Settings) -> tuple[str, Any, Any]:
    from http_get import start  # type: ignore[import-not-found]

    return start(settings)  # type: ignore[no-any-return]


def bench_embedded(args: argparse.Namespace) -> list[tuple[str, str]]:
    from spt_api.events import InProcessEventBus  # noqa: F401

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), embedded_pool_size=2, reconcile_interval=0)
        base, backends, stop = _start_api(settings)
        jobs_url = f"{base}/api/echo/jobs"
        local = threading_local()

        def http_one() -> float:
            client = getattr(local, "client", None)
            if client is None:
                client = local.client = httpx.Client(timeout=60)
            return _run_http_job(client, jobs_url)

        service = backends.jobs
        loop = _loop_of(backends)

        async def direct_async() -> float:
            start = time.perf_counter()
            job = service.store.create(service="echo", owner=None, parameters=[("message", "x")],
                                       execution_duration=60, destruction_time=None)
            with service.events.subscribe(job.job_id) as sub:
                queued = service.store.queue(job.job_id)
                service.dispatcher.send(queued)
                while True:
                    event = await sub.next(30)
                    if event is None or event.get("phase") in ("COMPLETED", "ERROR"):
                        break
            return time.perf_counter() - start

        def direct_one() -> float:
            return asyncio.run_coroutine_threadsafe(direct_async(), loop).result()

        for _ in range(10):
            http_one(), direct_one()  # warm-up
        raw_lat, raw_rate = measure(direct_one, args.jobs, args.concurrency)
        api_lat, api_rate = measure(http_one, args.jobs, args.concurrency)
        stop()
    return _rows("embedded (HTTP+SQLite+pool vs task through the same pool)", api_lat, api_rate, raw_lat, raw_rate)


def threading_local() -> Any:
    import threading

    return threading.local()


def _loop_of(backends: Any) -> asyncio.AbstractEventLoop:
    return backends.jobs.events._loop  # type: ignore[no-any-return]


def _rows(title: str, api_lat: list[float], api_rate: float, raw_lat: list[float], raw_rate: float
          ) -> list[tuple[str, str]]:
    api_p50, raw_p50 = percentile(api_lat, 50), percentile(raw_lat, 50)
    return [
        (title, ""),
        ("  spt-api p50 / p95", f"{api_p50 * 1000:7.1f} / {percentile(api_lat, 95) * 1000:7.1f} ms"),
        ("  raw     p50 / p95", f"{raw_p50 * 1000:7.1f} / {percentile(raw_lat, 95) * 1000:7.1f} ms"),
        ("  p50 ratio (spt-api / raw)", f"{api_p50 / raw_p50:5.2f}x"),
        ("  spt-api jobs/s", f"{api_rate:7.1f}"),
        ("  raw     jobs/s", f"{raw_rate:7.1f}"),
        ("  throughput ratio", f"{api_rate / raw_rate:5.2f}"),
    ]


def _worker(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, cwd=ROOT / "bench")


def bench_celery(args: argparse.Namespace) -> list[tuple[str, str]]:
    import signal

    import redis

    from tests.support.pgserver import drop_database, fresh_database_on_machine_pg

    broker = args.broker
    redis.Redis.from_url(broker).flushdb()
    database_url = fresh_database_on_machine_pg("spt_bench")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = {"SPT_API_DATABASE_URL": database_url, "SPT_API_BROKER_URL": broker, "SPT_API_REDIS_URL": broker,
                   "SPT_API_DATA_DIR": tmp, "BENCH_BROKER_URL": broker}
            # The API server in a process of its own, as deployed: the bench's client threads must not
            # share its interpreter (and GIL).
            port = _free_port()
            base = f"http://127.0.0.1:{port}"
            procs.append(_worker([sys.executable, "-m", "spt_api", "serve", "--port", str(port)],
                                 {**env, "SPT_API_RECONCILE_INTERVAL": "0"}))
            _wait_http(f"{base}/health/live")
            procs.append(_worker([sys.executable, "-m", "spt_api", "worker", "--queues", "echo",
                                  "--concurrency", "2"], env))
            procs.append(_worker([sys.executable, "-m", "celery", "-A", "raw_celery", "worker", "-c", "2",
                                  "-P", "prefork", "--loglevel", "WARNING", "-n", "raw@%h"], env))
            from raw_celery import noop  # type: ignore[import-not-found]

            local = threading_local()

            def http_one() -> float:
                client = getattr(local, "client", None)
                if client is None:
                    client = local.client = httpx.Client(timeout=60)
                return _run_http_job(client, f"{base}/api/echo/jobs")

            def raw_one() -> float:
                start = time.perf_counter()
                noop.apply_async(args=["x"]).get(timeout=60)
                return time.perf_counter() - start

            for _ in range(10):
                raw_one(), http_one()  # warm-up, also waits for both workers to be up
            raw_lat, raw_rate = measure(raw_one, args.jobs, args.concurrency)
            api_lat, api_rate = measure(http_one, args.jobs, args.concurrency)
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(15)
            except Exception:
                os.killpg(proc.pid, signal.SIGKILL)
        drop_database(database_url)
    return _rows("celery (HTTP+PostgreSQL+Celery/Redis, API process + 2 worker processes, vs raw Celery "
                 "apply_async().get() with 2 worker processes)",
                 api_lat, api_rate, raw_lat, raw_rate)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["embedded", "celery", "both"], default="both")
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    if args.backend in ("embedded", "both"):
        rows += bench_embedded(args)
    if args.backend in ("celery", "both"):
        rows += bench_celery(args)
    report("echo job roundtrip: submit → COMPLETED", rows)


if __name__ == "__main__":
    main()
