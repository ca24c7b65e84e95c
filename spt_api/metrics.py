"""Prometheus metrics: HTTP latency by route and status, jobs by service and phase, queue depth."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["Metrics"]


class _JobCollector(Collector):
    """Reads job counts at scrape time, so every API replica reports the same truth."""

    def __init__(
        self,
        counts: Callable[[], dict[tuple[str, str], int]],
        depths: Callable[[], dict[str, int]],
    ) -> None:
        self.counts = counts
        self.depths = depths

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily("spt_jobs", "Jobs by service and phase", labels=["service", "phase"])
        try:
            for (service, phase), count in sorted(self.counts().items()):
                jobs.add_metric([service, phase], count)
        except Exception:
            pass  # the database is down: /health says so; the scrape still succeeds
        yield jobs
        depth = GaugeMetricFamily("spt_queue_depth", "Jobs waiting in each queue", labels=["queue"])
        try:
            for queue, count in sorted(self.depths().items()):
                depth.add_metric([queue], count)
        except Exception:
            pass
        yield depth


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_latency = Histogram(
            "spt_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.job_duration = Histogram(
            "spt_job_duration_seconds",
            "Job execution time, start to end",
            ["service", "phase"],
            registry=self.registry,
            buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600),
        )

    def watch_jobs(
        self, counts: Callable[[], dict[tuple[str, str], int]], depths: Callable[[], dict[str, int]]
    ) -> None:
        self.registry.register(_JobCollector(counts, depths))
