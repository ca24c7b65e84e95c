"""GET of a job document while 16 sync cutouts run, against GET on an idle server (p99 ratio).

Sync requests are jobs run by the workers; the API only waits on them (spt_api/handlers/sync.py), so
a busy sync endpoint must not stall the job API.

Usage: python bench/sync_isolation.py [--seconds 10] [--sync-clients 16]
Goal: p99 under sync load <= 2x idle p99.
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

from _common import percentile, report  # type: ignore[import-not-found]

from spt_api.config import Settings
from spt_api.testing import start_server_thread
from tests.support.principals import ANONYMOUS
from workers.services.cutout.demo import SOURCES_NAME, make_demo_maps

#: A slow sync request: a PNG with axes drawn by matplotlib.
SYNC_QUERY = "/api/cutout/sync?POS=CIRCLE%20{ra}%20{dec}%200.5&format=png&axes=true"


def _get_latencies(host: str, port: int, path: str, seconds: float) -> list[float]:
    connection = http.client.HTTPConnection(host, port, timeout=30)
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        connection.request("GET", path, headers={"Accept": "application/json"})
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status
        latencies.append((time.perf_counter() - started) * 1000)
    connection.close()
    return latencies


def _sync_client(host: str, port: int, path: str, stop: threading.Event, counts: dict[int, int]) -> None:
    connection = http.client.HTTPConnection(host, port, timeout=120)
    while not stop.is_set():
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        counts[response.status] = counts.get(response.status, 0) + 1
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--sync-clients", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        maps = Path(tmp) / "maps"
        make_demo_maps(maps, small=True)
        settings = Settings(
            data_dir=Path(tmp), reconcile_interval=0, sync_max=args.sync_clients,
            service_settings={"cutout": {"maps_url": str(maps)}}, log_level="WARNING",
        )
        server = start_server_thread(settings)
        parts = urlsplit(server.base_url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        job = server.backends.jobs.store.create(
            ANONYMOUS, service="echo", parameters=[("message", "x")], execution_duration=60, destruction_time=None
        )
        job_path = f"/api/echo/jobs/{job.job_id}"
        source = json.loads((maps / SOURCES_NAME).read_text())["sources"][0]
        ra, dec = source["ra"], source["dec"]
        sync_path = SYNC_QUERY.format(ra=ra, dec=dec)
        _get_latencies(host, port, job_path, 1)  # warm-up
        idle = _get_latencies(host, port, job_path, args.seconds)
        stop = threading.Event()
        counts: dict[int, int] = {}
        clients = [
            threading.Thread(target=_sync_client, args=(host, port, sync_path, stop, counts), daemon=True)
            for _ in range(args.sync_clients)
        ]
        for client in clients:
            client.start()
        time.sleep(2)  # every sync process busy before measuring (a benchmark, not a test)
        loaded = _get_latencies(host, port, job_path, args.seconds)
        stop.set()
        for client in clients:
            client.join(120)
        server.stop()
    idle_p99, loaded_p99 = percentile(idle, 99), percentile(loaded, 99)
    report(
        f"GET job document: idle vs {args.sync_clients} concurrent sync cutouts (PNG with axes)",
        [
            ("idle p50 / p99", f"{percentile(idle, 50):.2f} / {idle_p99:.2f} ms ({len(idle)} requests)"),
            ("loaded p50 / p99", f"{percentile(loaded, 50):.2f} / {loaded_p99:.2f} ms ({len(loaded)} requests)"),
            ("sync answers by status", ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))),
            ("p99 ratio", f"{loaded_p99 / idle_p99:.2f}x"),
            ("goal", "<= 2x"),
        ],
    )


if __name__ == "__main__":
    main()
