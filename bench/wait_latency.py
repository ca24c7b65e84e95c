"""How soon a blocked ``GET …?WAIT=30`` answers after a worker changes the job's phase.

A worker-like writer claims the QUEUED job in PostgreSQL (QUEUED → EXECUTING) and publishes its
event on Redis, exactly as ``execute_job`` does; the client's WAIT, held by the API server, must
return with the new phase. Measured from just before the store update to the response at the
client, and from the publish. The client uses http.client: it shares the server's interpreter here.
Usage: python bench/wait_latency.py [--rounds 1000]   Goal: p99 < 10 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import redis
from _common import percentile, report  # type: ignore[import-not-found]

from spt_api.config import Settings
from spt_api.db import create_job_store
from spt_api.events import RedisEventPublisher
from spt_api.events.messages import phase_event
from tests.support.principals import ANONYMOUS, SYSTEM


def main() -> None:
    from http_get import start  # type: ignore[import-not-found]

    from tests.support.pgserver import drop_database, fresh_database_on_machine_pg

    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=1000)
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
            parts = urlsplit(base)
            client = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
            for _ in range(args.rounds):
                job = writer.create(ANONYMOUS, service="echo", parameters=[("message", "x")],
                                    execution_duration=60, destruction_time=None, queued=True)
                returned: dict[str, float | str] = {}

                def wait(job_id: str = job.job_id, out: dict[str, float | str] = returned) -> None:
                    client.request("GET", f"/api/echo/jobs/{job_id}?WAIT=30&PHASE=QUEUED",
                                   headers={"Accept": "application/json"})
                    body = client.getresponse().read()
                    out["at"] = time.perf_counter()
                    out["phase"] = json.loads(body)["phase"]

                thread = threading.Thread(target=wait)
                thread.start()
                deadline = time.monotonic() + 10
                # The server subscribes before it reads the job; PHASE=QUEUED makes a read that
                # comes after our change return at once rather than wait for a later one.
                while bus.subscriber_count() == 0:
                    assert time.monotonic() < deadline
                    time.sleep(0.0005)
                changed = time.perf_counter()
                claimed = writer.claim(SYSTEM, job.job_id, "bench-worker")
                assert claimed is not None
                published = time.perf_counter()
                publisher.publish(job.job_id, phase_event(claimed, with_state=True))
                thread.join(30)
                assert returned["phase"] == "EXECUTING", returned
                latencies.append(float(returned["at"]) - changed)
                from_event.append(float(returned["at"]) - published)
            client.close()
            stop()
    finally:
        drop_database(url)
    ms = [v * 1000 for v in latencies]
    ev = [v * 1000 for v in from_event]
    report(
        "WAIT wake-up after a worker's phase change (PostgreSQL claim + Redis publish → HTTP response)",
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
