"""How soon a blocked ``GET …?WAIT=30`` answers after a worker changes the job's phase.

A worker-like writer updates the job in PostgreSQL and publishes the event on Redis (as
``execute_job`` does); the client's WAIT, held by the API server, must return with the new
phase. Measured from just before the store update to the response at the client.
Usage: python bench/wait_latency.py [--rounds 200]   Goal: p99 < 10 ms.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import httpx
import redis
from _common import percentile, report  # type: ignore[import-not-found]

from spt_api.config import Settings
from spt_api.db import create_job_store
from spt_api.events import RedisEventPublisher


def main() -> None:
    from http_get import start  # type: ignore[import-not-found]

    from tests.support.pgserver import drop_database, fresh_database_on_machine_pg

    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12")
    args = parser.parse_args()
    redis.Redis.from_url(args.redis).flushdb()
    url = fresh_database_on_machine_pg("spt_bench_wait")
    latencies: list[float] = []
    from_event: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(data_dir=Path(tmp), database_url=url, redis_url=args.redis, reconcile_interval=0)
            base, backends, stop = start(settings)
            writer = create_job_store(url, run_migrations=False)
            publisher = RedisEventPublisher(args.redis)
            bus = backends.jobs.events._local
            with httpx.Client(timeout=60) as client:
                for _ in range(args.rounds):
                    job = writer.create(service="echo", owner=None, parameters=[("message", "x")],
                                        execution_duration=60, destruction_time=None)
                    returned: dict[str, float | str] = {}

                    def wait(job_id: str = job.job_id, out: dict[str, float | str] = returned) -> None:
                        response = client.get(f"{base}/api/echo/jobs/{job_id}/",
                                              params={"WAIT": 30, "PHASE": "PENDING"},
                                              headers={"Accept": "application/json"})
                        out["at"] = time.perf_counter()
                        out["phase"] = response.json()["phase"]

                    thread = threading.Thread(target=wait)
                    thread.start()
                    deadline = time.monotonic() + 10
                    # The server subscribes before it reads the job; PHASE=PENDING makes a read that
                    # comes after our change return at once rather than wait for a later one.
                    while bus.subscriber_count() == 0:
                        assert time.monotonic() < deadline
                        time.sleep(0.0005)
                    changed = time.perf_counter()
                    writer.queue(job.job_id)
                    published = time.perf_counter()
                    publisher.publish(job.job_id, {"type": "phase", "phase": "QUEUED"})
                    thread.join(30)
                    assert returned["phase"] == "QUEUED", returned
                    latencies.append(float(returned["at"]) - changed)
                    from_event.append(float(returned["at"]) - published)
            stop()
    finally:
        drop_database(url)
    ms = [v * 1000 for v in latencies]
    ev = [v * 1000 for v in from_event]
    report(
        "WAIT wake-up after a phase change (PostgreSQL update + Redis publish → HTTP response)",
        [
            ("rounds", str(len(ms))),
            ("p50", f"{percentile(ms, 50):.2f} ms"),
            ("p95", f"{percentile(ms, 95):.2f} ms"),
            ("p99", f"{percentile(ms, 99):.2f} ms"),
            ("from the publish: p50 / p99", f"{percentile(ev, 50):.2f} / {percentile(ev, 99):.2f} ms"),
            ("goal", "p99 < 10 ms"),
        ],
    )


if __name__ == "__main__":
    main()
