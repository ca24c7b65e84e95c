"""Shared pieces of the benchmarks: a server in a thread, a keep-alive HTTP load generator, percentiles."""

from __future__ import annotations

import http.client
import multiprocessing
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = ["ROOT", "hammer", "percentile", "report"]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def _client(url: str, seconds: float, headers: dict[str, str], out: Any) -> None:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
        count += 1
    out.put(count)


def hammer(url: str, *, seconds: float = 5.0, clients: int = 4, headers: dict[str, str] | None = None) -> float:
    """Requests per second from ``clients`` keep-alive client processes for ``seconds``."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_client, args=(url, seconds, headers or {}, out)) for _ in range(clients)]
    start = time.perf_counter()
    for proc in procs:
        proc.start()
    total = sum(out.get() for _ in procs)
    for proc in procs:
        proc.join()
    return total / (time.perf_counter() - start)


def report(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n== {title}")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}")


_ = statistics
