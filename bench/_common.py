"""Shared pieces of the benchmarks: a server in a thread, a keep-alive HTTP load generator, percentiles."""

from __future__ import annotations

import http.client
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = ["ROOT", "CpuMeter", "hammer", "percentile", "report"]

_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_stats() -> dict[int, tuple[int, str, float]]:
    """pid → (parent pid, command name, CPU seconds used) of every process, from /proc."""
    stats: dict[int, tuple[int, str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                text = handle.read()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        stats[int(entry)] = (int(fields[1]), name, (int(fields[11]) + int(fields[12])) / _TICKS)
    return stats


class CpuMeter:
    """CPU seconds used by groups of processes (a root pid and its descendants, or a command name)
    between :meth:`start` and :meth:`stop`: where a run's CPU went, per job."""

    def __init__(self, roots: dict[str, int], names: dict[str, str]) -> None:
        self.roots = roots
        self.names = names
        self._before: dict[str, float] = {}

    def _totals(self) -> dict[str, float]:
        stats = _proc_stats()
        totals = dict.fromkeys([*self.roots, *self.names], 0.0)
        group_of_root = {root: group for group, root in self.roots.items()}
        for pid, (_, name, cpu) in stats.items():
            # The nearest ancestor that is a root names the group: a worker started by the bench is
            # the worker's, not the bench's.
            ancestor = pid
            while ancestor > 1 and ancestor not in group_of_root:
                ancestor = stats.get(ancestor, (0, "", 0.0))[0]
            if ancestor in group_of_root:
                totals[group_of_root[ancestor]] += cpu
                continue
            for group, prefix in self.names.items():
                if name.startswith(prefix):
                    totals[group] += cpu
        return totals

    def start(self) -> None:
        self._before = self._totals()

    def stop(self) -> dict[str, float]:
        after = self._totals()
        return {group: after[group] - self._before.get(group, 0.0) for group in after}


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

