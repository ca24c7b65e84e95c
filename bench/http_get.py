"""GET of a job document (req/s) against a trivial Tornado handler in the same server process.

Usage: python bench/http_get.py [--seconds 5] [--clients 3]
Goal: ratio >= 0.7.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web
from _common import hammer, report  # type: ignore[import-not-found]

from spt_api.config import Settings
from spt_api.testing import start_server_thread
from tests.support.principals import ANONYMOUS


class TrivialHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("ok")


def start(settings: Settings) -> tuple[str, Any, Any]:
    server = start_server_thread(settings, [(r"/trivial", TrivialHandler)])
    return server.base_url, server.backends, server.stop


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), reconcile_interval=0)
        base, backends, stop = start(settings)
        job = backends.jobs.store.create(
            ANONYMOUS, service="echo", parameters=[("message", "bench"), ("delay", "0")],
            execution_duration=60, destruction_time=None,
        )
        job_url = f"{base}/api/echo/jobs/{job.job_id}"
        hammer(f"{base}/trivial", seconds=1, clients=args.clients)  # warm-up
        # Interleaved rounds: other load on the machine drifts; each ratio compares neighbours.
        rows: dict[str, list[float]] = {"trivial": [], "xml": [], "json": []}
        for _ in range(args.rounds):
            rows["trivial"].append(hammer(f"{base}/trivial", seconds=args.seconds, clients=args.clients))
            rows["xml"].append(hammer(job_url, seconds=args.seconds, clients=args.clients))
            rows["json"].append(
                hammer(job_url, seconds=args.seconds, clients=args.clients, headers={"Accept": "application/json"})
            )
        trivial, xml, js = (statistics.median(rows[k]) for k in ("trivial", "xml", "json"))
        xml_ratio = statistics.median(x / t for x, t in zip(rows["xml"], rows["trivial"], strict=True))
        json_ratio = statistics.median(x / t for x, t in zip(rows["json"], rows["trivial"], strict=True))
        report(
            "GET job document vs trivial Tornado handler (same process, embedded SQLite)",
            [
                ("trivial handler", f"{trivial:8.0f} req/s"),
                ("job XML", f"{xml:8.0f} req/s   ratio {xml_ratio:.2f}"),
                ("job JSON", f"{js:8.0f} req/s   ratio {json_ratio:.2f}"),
                ("goal", "ratio >= 0.70"),
            ],
        )
        stop()


if __name__ == "__main__":
    main()
