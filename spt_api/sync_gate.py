"""How many DALI sync requests may wait on their jobs at once; past that, 429 with ``Retry-After``.

A sync request holds an HTTP exchange (and a WAIT) while a worker runs its job.
Bounding them keeps a flood of sync requests from holding every connection and
the job store's threads, and tells clients to come back, or to submit a job.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from spt_api.uws.errors import RequestError

__all__ = ["SyncBusyError", "SyncGate"]

#: Seconds a client told "busy" waits before trying again.
SYNC_RETRY_AFTER = 2


class SyncBusyError(RequestError):
    """Every sync slot is taken (429 with ``Retry-After``)."""

    status = 429
    error = "too_many_requests"
    retry_after = SYNC_RETRY_AFTER


class SyncGate:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of ``limit`` slots (event-loop only: no lock needed).

        Raises
        ------
        SyncBusyError
            When all are taken.
        """
        if self.in_flight >= self.limit:
            raise SyncBusyError(
                f"{self.limit} sync requests are running already: try again in {SYNC_RETRY_AFTER} s, "
                "or submit an asynchronous job"
            )
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
