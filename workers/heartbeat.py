"""One heartbeat thread per worker process, beating for every job the process is running.

A thread per job cost a thread start and stop on every job, a tenth of a millisecond
that a no-op job notices; jobs come and go from a set instead.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator

from structlog.contextvars import bound_contextvars

from workers.process_thread import ProcessThread

__all__ = ["Heartbeats"]

log = logging.getLogger(__name__)


class Heartbeats:
    """Calls ``beat(job_id)`` every ``interval`` seconds for each job inside :meth:`beating`."""

    def __init__(self, beat: Callable[[str], object], interval: float) -> None:
        self._beat = beat
        self._interval = interval
        self._jobs: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # Owned by the process that started it: a forked child (Celery prefork) starts its own.
        self._thread = ProcessThread(self._run, "heartbeats")

    @contextlib.contextmanager
    def beating(self, job_id: str) -> Iterator[None]:
        with self._lock:
            self._jobs.add(job_id)
            self._thread.ensure()
        try:
            yield
        finally:
            with self._lock:
                self._jobs.discard(job_id)

    def close(self) -> None:
        """Stop the thread (a worker process's lives as long as the process)."""
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with self._lock:
                running = sorted(self._jobs)
            for job_id in running:
                with bound_contextvars(job_id=job_id):
                    try:
                        self._beat(job_id)
                    except Exception as exc:  # a database blip must not kill the job
                        log.warning("heartbeat failed: %s", exc)
