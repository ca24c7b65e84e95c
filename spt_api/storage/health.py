"""The object store's last known health: one check every few seconds, shared by every request.

A result link redirects the client to the store (a presigned URL, made without a network call), so
nothing in that request would notice that S3 is down. Checking S3 on every request would put it on
the path of each download and multiply the load when it is slow; instead one check, at most every
:data:`STORAGE_CHECK_INTERVAL` seconds, is remembered here and read by the request handlers. The
readiness probe (``/health``) checks afresh and records what it finds too.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

__all__ = ["STORAGE_CHECK_INTERVAL", "StorageHealth"]

#: Seconds a storage check is trusted: a short outage costs at most this long of dead redirects,
#: and a recovery at most this long of 503s.
STORAGE_CHECK_INTERVAL = 2.0


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


class StorageHealth:
    """The result of ``check`` (a store's readiness check), refreshed at most every ``interval`` seconds."""

    def __init__(
        self,
        check: Callable[[], None],
        interval: float = STORAGE_CHECK_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._checked_at = -math.inf
        self._problem: str | None = None

    def problem(self) -> str | None:
        """None while the store answered its latest check, else what went wrong. Blocking: a thread's call.

        While one thread refreshes a stale state, the others answer the last known one rather than
        queue behind it: with S3 hanging, a check takes its whole connect timeout.
        """
        if self._clock() - self._checked_at < self.interval:
            return self._problem
        if not self._lock.acquire(blocking=False):
            return self._problem
        try:
            if self._clock() - self._checked_at >= self.interval:  # not refreshed while we got here
                try:
                    self._check()
                except Exception as exc:
                    self._record(describe(exc))
                else:
                    self._record(None)
        finally:
            self._lock.release()
        return self._problem

    def check(self) -> None:
        """Check now and remember the outcome; raise as the store's check does (the readiness probe)."""
        try:
            self._check()
        except Exception as exc:
            self._record(describe(exc))
            raise
        self._record(None)

    def _record(self, problem: str | None) -> None:
        self._problem = problem
        self._checked_at = self._clock()
