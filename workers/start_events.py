"""A worker's job events, with each job's start (EXECUTING) held for a moment: a job that ends sooner
announces its start and its end together.

Most jobs of a busy service are short (an echo, one cutout, one search batch). Announced
apart, start and end cost two round trips to Redis and wake every WAIT on the job twice:
the client sees EXECUTING, asks again, and sees COMPLETED, one HTTP exchange later. Held for
up to ``hold`` seconds, the start leaves with the end in one batch (one pipelined round trip);
an API that receives both together renders the job already COMPLETED, so the WAIT that would
have woken at EXECUTING answers with the end (UWS §2.2.1.2: it returns because the phase
changed; it reports the phase as it is). A job still running after ``hold`` has its start
announced then, by a timer thread, so a watcher sees EXECUTING at most ``hold`` late.

Durability is untouched: the phase is stored (the claim) before anything is held; only the
announcement waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from spt_api.events import EventPublisher, JobEvent
from workers.process_thread import ProcessThread

__all__ = ["HeldStartPublisher"]


class HeldStartPublisher:
    """An :class:`~spt_api.events.EventPublisher` whose :meth:`hold_start` delays a job's start event.

    Any later event of the same job (progress, the end) releases the held start first, in the same batch,
    so each job's events still leave in order.
    """

    def __init__(self, publisher: EventPublisher, hold: float) -> None:
        self.publisher = publisher
        self.hold = hold
        self._held: dict[str, tuple[float, JobEvent]] = {}
        self._lock = threading.Condition()
        #: The timer thread waits with no deadline (nothing was held).
        self._idle = False
        # Owned by the process that started it: a forked pool process (Celery prefork) starts its own.
        self._thread = ProcessThread(self._release_due, "start-events")

    def hold_start(self, job_id: str, event: JobEvent) -> None:
        """Announce ``event`` (the job's EXECUTING) with the job's next event, or after ``hold`` seconds."""
        if self.hold <= 0:
            self.publisher.publish(job_id, event)
            return
        with self._lock:
            self._held[job_id] = (time.monotonic() + self.hold, event)
            self._thread.ensure()
            # Every hold is as long, so a new deadline is never earlier than one the thread sleeps towards:
            # it is woken (a context switch per job otherwise) only when it sleeps with none.
            if self._idle:
                self._idle = False
                self._lock.notify()

    def publish(self, job_id: str, event: JobEvent) -> None:
        self.publish_many([(job_id, event)])

    def drop(self, job_id: str) -> None:
        """Forget the held start of a job that ended without an event of ours (aborted, or taken over):
        its end was announced by whoever changed it, and a start after that would be a stale event."""
        with self._lock:
            self._held.pop(job_id, None)

    def publish_many(self, events: Sequence[tuple[str, JobEvent]]) -> None:
        # Sent under the lock, as the timer thread sends: a start it is releasing cannot be overtaken. The
        # held starts of these jobs go first, in the same batch.
        with self._lock:
            held = [(job_id, start[1]) for job_id, _ in events if (start := self._held.pop(job_id, None))]
            self.publisher.publish_many([*held, *events])

    def _release_due(self) -> None:
        """Announce the starts of jobs still running ``hold`` seconds after they began."""
        while True:
            with self._lock:
                now = time.monotonic()
                due = [(job_id, event) for job_id, (deadline, event) in self._held.items() if deadline <= now]
                for job_id, _ in due:
                    del self._held[job_id]
                if due:
                    self.publisher.publish_many(due)
                    continue
                next_deadline = min((deadline for deadline, _ in self._held.values()), default=None)
                self._idle = next_deadline is None
                self._lock.wait(None if next_deadline is None else next_deadline - now)
