"""A search's I/O in the background: requests that do not depend on each other wait at the same time.

A search job reads the index's listing and its queries, a fan-out split the listing and the queries'
header, a merge each piece's answer: each a round trip to the object store of a few milliseconds,
paid one after another until they overlapped here. One small thread pool per process (made on first
use, again after a fork: a forked child has no threads), never one per job.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from typing import Any, TypeVar

__all__ = ["background", "wait_for"]

T = TypeVar("T")

#: Requests one process has in flight at most (a merge reads one answer per shard).
THREADS = 8

_POOL: tuple[int, ThreadPoolExecutor] | None = None
_LOCK = threading.Lock()


def background(fn: Callable[..., T], *args: Any) -> Future[T]:
    """``fn(*args)`` in this process's I/O threads."""
    global _POOL
    with _LOCK:
        if _POOL is None or _POOL[0] != os.getpid():
            _POOL = (os.getpid(), ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="search-io"))
        return _POOL[1].submit(fn, *args)


def wait_for(pending: Future[Any], fn: Callable[[], T]) -> T:
    """``fn()`` here while ``pending`` runs; ``fn``'s error is raised only once ``pending`` has ended, so that
    nothing of this job is still running when the job ends."""
    try:
        return fn()
    except BaseException:
        wait_all([pending])
        raise
