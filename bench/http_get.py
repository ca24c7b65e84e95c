"""GET of a job document (req/s) against a trivial Tornado handler in the same server process.

Usage: python bench/http_get.py [--seconds 5] [--clients 3]
Goal: ratio >= 0.7.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
from pathlib import Path
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web
from _common import hammer, report  # type: ignore[import-not-found]

from spt_api.app import build_backends, make_app
from spt_api.config import Settings


class TrivialHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("ok")


def start(settings: Settings) -> tuple[str, Any, Any]:
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        backends = build_backends(settings)
        loop.run_until_complete(backends.start())
        app = make_app(backends)
        app.add_handlers(r".*", [(r"/trivial", TrivialHandler)])
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        tornado.httpserver.HTTPServer(app).add_sockets(sockets)
        holder.update(port=sockets[0].getsockname()[1], backends=backends, loop=loop)
        ready.set()
        loop.run_forever()
        loop.run_until_complete(backends.stop())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(60)

    def stop() -> None:
        holder["loop"].call_soon_threadsafe(holder["loop"].stop)
        thread.join(10)

    return f"http://127.0.0.1:{holder['port']}", holder["backends"], stop


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
            service="echo", owner=None, parameters=[("message", "bench"), ("delay", "0")],
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
