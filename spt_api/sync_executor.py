"""Where sync requests run their service's code: a small process pool of its own, bounded.

Why apart: on the job-store thread pool, sixteen slow cuts would stall every GET
and WAIT, and the first one would load astropy into the API process. Here the
service code runs in child processes at a lower CPU priority (so the API's event
loop keeps its share of a busy machine), at most ``sync_workers`` at once with
``sync_queue`` more waiting; past that a request gets 429 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from spt_api.config import Settings
from spt_api.services import ServiceSpec, SyncResult, load_function
from spt_api.uws.errors import RequestError, ServiceUnavailableError

__all__ = ["SyncBusyError", "SyncExecutor"]

#: Niceness of the sync processes: the API process (niceness 0) wins the CPU when both want it.
SYNC_NICENESS = 10
#: Seconds a client told "busy" waits before trying again.
SYNC_RETRY_AFTER = 2


class SyncBusyError(RequestError):
    """Every sync process is busy and the wait line is full (429 with ``Retry-After``)."""

    status = 429
    error = "too_many_requests"
    retry_after = SYNC_RETRY_AFTER


def _lower_priority() -> None:
    try:
        os.nice(SYNC_NICENESS)
    except OSError:  # not allowed here: run at the API's priority rather than not at all
        pass


def _run(path: str, params: Any, settings: Settings, service_settings: Any) -> SyncResult:
    result: SyncResult = load_function(path)(params, settings, service_settings)
    return result


class SyncExecutor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._in_flight = 0
        self._limit = settings.sync_workers + settings.sync_queue
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # Spawned, not forked: a fork of the API process would copy its event loop and threads.
            self._pool = ProcessPoolExecutor(
                max_workers=self.settings.sync_workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_lower_priority,
            )
        return self._pool

    async def run(self, spec: ServiceSpec, params: Any) -> SyncResult:
        """``spec``'s sync function on ``params``, in a sync process.

        Raises
        ------
        SyncBusyError
            When ``sync_workers + sync_queue`` requests are in flight already.
        """
        if spec.sync is None:
            raise ServiceUnavailableError(f"the service {spec.name!r} has no sync endpoint")
        if self._in_flight >= self._limit:
            raise SyncBusyError(
                f"all {self.settings.sync_workers} sync processes are busy and {self.settings.sync_queue} "
                f"requests wait already: try again in {SYNC_RETRY_AFTER} s, or submit an async job"
            )
        self._in_flight += 1
        try:
            loop = asyncio.get_running_loop()
            try:
                return await loop.run_in_executor(
                    self._executor(), _run, spec.sync, params, self.settings, spec.settings_for(self.settings)
                )
            except BrokenProcessPool as exc:
                # A sync process died (out of memory, killed): start afresh for the next request.
                self._pool = None
                raise ServiceUnavailableError(f"the sync process running this request died: {exc}") from exc
        finally:
            self._in_flight -= 1

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
