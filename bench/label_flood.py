"""Memory and /metrics size under a flood of requests with random methods and paths (closed label sets).

Before the labels were closed, 25,000 such requests grew /metrics to 55 MB and the process by ~100 MB.

Usage: python bench/label_flood.py [--requests 25000]
Goal: RSS growth < 5 MB, /metrics size unchanged in order of magnitude.
"""

from __future__ import annotations

import argparse
import random
import socket
import string
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from _common import report  # type: ignore[import-not-found]

from spt_api.config import Settings
from spt_api.testing import start_server_thread


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _flood(host: str, port: int, count: int) -> None:
    rng = random.Random(1)
    for _ in range(count):
        method = "".join(rng.choices(string.ascii_uppercase, k=7))
        path = "/" + "".join(rng.choices(string.ascii_lowercase, k=12))
        with socket.create_connection((host, port), timeout=10) as conn:
            conn.sendall(f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            while conn.recv(65536):
                pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=25_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server_thread(Settings(data_dir=Path(tmp), reconcile_interval=0, log_level="WARNING"))
        parts = urlsplit(server.base_url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        _flood(host, port, 500)  # warm-up: every label the flood can produce exists once
        metrics_before = len(httpx.get(f"{server.base_url}/metrics").content)
        rss_before = _rss_mb()
        _flood(host, port, args.requests)
        rss_after = _rss_mb()
        metrics_after = len(httpx.get(f"{server.base_url}/metrics").content)
        server.stop()
    report(
        f"{args.requests} requests with random methods and paths (server in this process)",
        [
            ("RSS before / after", f"{rss_before:.1f} / {rss_after:.1f} MB (growth {rss_after - rss_before:+.1f} MB)"),
            ("/metrics size before / after", f"{metrics_before} / {metrics_after} bytes"),
            ("goal", "RSS growth < 5 MB"),
        ],
    )


if __name__ == "__main__":
    main()
