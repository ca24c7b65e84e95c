"""A worker server as the live worker registry knows it: its queues, capabilities and heartbeat."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["WorkerInfo", "missing_capabilities"]


@dataclass(frozen=True)
class WorkerInfo:
    """One worker process that runs jobs (a Celery worker, or the embedded pool's owner)."""

    worker_id: str
    hostname: str
    queues: tuple[str, ...]
    #: What it can run: ``cpu``, ``onnx``, ``gpu``, ``cuda``... (``SPT_API_WORKER_CAPABILITIES``, else detected).
    capabilities: frozenset[str]
    #: Whatever else it publishes (a search shard: ``{"shard": "faces:2", "index_version": 3}``).
    extra: dict[str, Any] = field(default_factory=dict)
    started: datetime | None = None
    last_seen: datetime | None = None

    def serves(self, queue: str) -> bool:
        return queue in self.queues

    def can_run(self, requirements: Iterable[str]) -> bool:
        return set(requirements) <= self.capabilities

    def to_json(self) -> dict[str, Any]:
        return {
            "workerId": self.worker_id,
            "hostname": self.hostname,
            "queues": list(self.queues),
            "capabilities": sorted(self.capabilities),
            "extra": self.extra,
            "lastSeen": self.last_seen.isoformat() if self.last_seen else None,
        }


def missing_capabilities(
    requirements: Iterable[str], workers: Iterable[WorkerInfo], queue: str | None = None
) -> set[str]:
    """What no live worker (of ``queue``, when given) offers of ``requirements``: empty when one can run it all."""
    needed = set(requirements)
    workers = list(workers)
    candidates = [w for w in workers if queue is None or w.serves(queue)]
    if any(w.can_run(needed) for w in candidates):
        return set()
    # No server of that queue at all: say what the nearest live server lacks ("gpu"), if any is live.
    candidates = candidates or workers
    if not candidates:
        return needed
    # The nearest server: the one that lacks the fewest.
    return min((needed - w.capabilities for w in candidates), key=lambda m: (len(m), sorted(m)))
