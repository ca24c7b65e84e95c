"""Prometheus metrics: HTTP latency by route and status, jobs by service and phase, queue depth,
job durations and the heartbeats of the workers running jobs.

Job counts, queue depths and heartbeats are read at scrape time from the shared database and
broker, so every API replica reports the same truth. Job durations are observed when a
worker's final phase event reaches the API: Redis pub/sub delivers every event to every
replica, and only the one that claims the event counts it (``EventBus.add_exclusive_listener``),
so ``sum`` across replicas is right.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from spt_api.events.messages import JobEvent

__all__ = ["Metrics", "watch_loop_lag"]

log = logging.getLogger(__name__)

#: Buckets of the event-loop lag: a healthy loop is late by well under a millisecond.
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _JobCollector(Collector):
    """Reads job counts at scrape time, so every API replica reports the same truth."""

    def __init__(
        self,
        counts: Callable[[], dict[tuple[str, str], int]],
        depths: Callable[[], dict[str, int]],
        heartbeats: Callable[[], dict[str, datetime]],
    ) -> None:
        self.counts = counts
        self.depths = depths
        self.heartbeats = heartbeats

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
        ages = GaugeMetricFamily(
            "spt_worker_heartbeat_age_seconds",
            "Seconds since each worker process running a job last heartbeat",
            labels=["worker"],
        )
        try:
            now = datetime.now(UTC)
            for worker, beat in sorted(self.heartbeats().items()):
                ages.add_metric([worker], max(0.0, (now - beat).total_seconds()))
        except Exception:
            pass
        yield ages


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
        self.waits_in_flight = Gauge(
            "spt_http_waits_in_flight", "Blocking job requests (WAIT) being held now", registry=self.registry
        )
        self.websockets_open = Gauge(
            "spt_websockets_open", "Live-update WebSockets open on this process", registry=self.registry
        )
        self.websockets_too_slow = Counter(
            "spt_websockets_too_slow_total",
            "Live-update WebSockets closed (4408) because their client did not read fast enough",
            registry=self.registry,
        )
        self.loop_lag = Histogram(
            "spt_event_loop_lag_seconds",
            "How late the event loop ran a periodic check: time it was blocked by synchronous code",
            registry=self.registry,
            buckets=LAG_BUCKETS,
        )

    def watch_jobs(
        self,
        counts: Callable[[], dict[tuple[str, str], int]],
        depths: Callable[[], dict[str, int]],
        heartbeats: Callable[[], dict[str, datetime]],
    ) -> None:
        self.registry.register(_JobCollector(counts, depths, heartbeats))

    def observe_event(self, job_id: str, event: JobEvent) -> None:
        """An event listener: a job's final phase event with its run time feeds the duration histogram."""
        if event.duration is not None and event.service is not None and event.phase is not None:
            self.job_duration.labels(event.service, event.phase).observe(max(0.0, event.duration))


async def watch_loop_lag(metrics: Metrics, interval: float, warn_after: float) -> None:
    """Every ``interval`` seconds, observe how late the event loop woke this task (until cancelled).

    A loop blocked by synchronous code (a slow handler, a blocking call) runs every callback late;
    the lag is the time it was blocked. Which handler blocked it is logged by the handlers
    themselves (``BaseHandler``); this warns too, for blocking code outside any handler.
    """
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(interval)
        lag = max(0.0, loop.time() - start - interval)
        metrics.loop_lag.observe(lag)
        if lag > warn_after:
            log.warning("the event loop was blocked for %.0f ms", lag * 1000)
