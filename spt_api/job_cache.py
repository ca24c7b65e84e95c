"""A short-lived cache of jobs read by the API, dropped on each of the job's events.

Why: GET of a job document is the hottest request (clients poll, web pages
refresh); reading it from the database each time costs more than the rest of
the request. Every change to a job publishes an event, which drops its entry;
the TTL bounds staleness should an event be lost (e.g. a Redis restart).

A read that raced with a change must not refill the cache with the old job:
callers take a :meth:`token` before reading the database and :meth:`put` only
stores the job if it was not invalidated since that token. WAIT subscribes to
the job's events before it reads, so a blocked client never misses a change; a
lost event (which also leaves the entry in place until the TTL) delays a WAIT
by at most ``WAIT_RECHECK_SECONDS``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

from spt_api.uws.models import Job
from spt_api.uws.principal import Principal

__all__ = ["JobCache"]


@dataclass
class _Entry:
    job: Job
    stored: float
    renders: dict[tuple[str, str], bytes] = field(default_factory=dict)


class JobCache:
    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._epoch = 0
        #: When each job was last invalidated (an epoch); older records are forgotten past ``_floor``.
        self._dropped: OrderedDict[str, int] = OrderedDict()
        self._floor = 0

    def token(self) -> int:
        """Take before reading a job from the database; hand to :meth:`put`."""
        return self._epoch

    def _entry(self, job_id: str) -> _Entry | None:
        entry = self._entries.get(job_id)
        if entry is None:
            return None
        if time.monotonic() - entry.stored > self.ttl:
            del self._entries[job_id]
            return None
        return entry

    def get(self, principal: Principal, job_id: str) -> Job | None:
        """The cached job, when ``principal`` may see it."""
        entry = self._entry(job_id)
        return entry.job if entry and principal.may_see(entry.job.owner) else None

    def put(self, job: Job, token: int) -> None:
        """Cache ``job`` unless it was invalidated after ``token`` was taken (the read may be stale)."""
        if self.ttl <= 0 or self._dropped.get(job.job_id, self._floor) > token:
            return
        self._entries[job.job_id] = _Entry(job, time.monotonic())
        self._entries.move_to_end(job.job_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def invalidate(self, job_id: str) -> None:
        self._entries.pop(job_id, None)
        self._epoch += 1
        self._dropped[job_id] = self._epoch
        self._dropped.move_to_end(job_id)
        while len(self._dropped) > self.max_entries:
            _, epoch = self._dropped.popitem(last=False)
            self._floor = max(self._floor, epoch)

    def rendered(self, principal: Principal, job: Job, kind: str, base: str) -> bytes | None:
        entry = self._entry(job.job_id)
        if entry is None or entry.job is not job or not principal.may_see(job.owner):
            return None
        return entry.renders.get((kind, base))

    def remember_render(self, job: Job, kind: str, base: str, body: bytes) -> None:
        entry = self._entry(job.job_id)
        if entry is not None and entry.job is job:
            entry.renders[(kind, base)] = body
