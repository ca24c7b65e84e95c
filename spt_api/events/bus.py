"""The event bus interface and its in-process implementation."""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Protocol

from spt_api.events.messages import JobEvent
from spt_api.uws.principal import Principal

__all__ = ["EventBus", "EventPublisher", "InProcessEventBus", "JobEvent", "Subscription"]



def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class EventPublisher(Protocol):
    """Anything that can publish a job event; safe to call from any thread or process."""

    def publish(self, job_id: str, event: JobEvent) -> None: ...

    def publish_many(self, events: Sequence[tuple[str, JobEvent]]) -> None:
        """Publish ``events`` (job id, event) in order, together: a listener gets them all before it acts on
        the first (a job's start and end, announced at once, wake a WAIT once)."""


class Subscription:
    """Events of one job (or, ``job_id`` None, of every job) that ``principal`` may see, delivered in order.

    ``limit``: the most events held for a reader that has not taken them (0: no limit). One more is
    not queued: ``on_overflow`` is called instead, once, and the subscription takes no more events;
    a reader too slow to keep up (a WebSocket client that does not read) never grows the server's memory.
    """

    def __init__(
        self,
        bus: InProcessEventBus,
        principal: Principal,
        job_id: str | None,
        *,
        limit: int = 0,
        on_overflow: Callable[[], None] | None = None,
    ) -> None:
        self._bus = bus
        self.principal = principal
        self.job_id = job_id
        self.queue: asyncio.Queue[JobEvent] = asyncio.Queue(limit)
        self.overflowed = False
        self._on_overflow = on_overflow
        #: Set when an event arrives for a :meth:`next` that is waiting (a bare future and a timer: no
        #: Task or ``wait_for`` per wait, which cost a WAIT a tenth of a millisecond).
        self._waiter: asyncio.Future[None] | None = None

    def offer(self, event: JobEvent) -> None:
        # Events carry their job's owner: another user's event never reaches this waiter.
        if self.overflowed or not self.principal.may_see(event.owner):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            if self._on_overflow is not None:
                self._on_overflow()
            return
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next(self, timeout: float) -> JobEvent | None:
        """The next event, or None after ``timeout`` seconds."""
        if self.queue.empty():
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later(max(0.0, timeout), _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        try:
            return self.queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def close(self) -> None:
        self._bus._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus(ABC):
    #: Whether :meth:`publish_now` may wait (on a broker, over the network): then it is called from a thread.
    publish_blocks = True

    @abstractmethod
    def publish(self, job_id: str, event: JobEvent) -> None: ...

    def publish_many(self, events: Sequence[tuple[str, JobEvent]]) -> None:
        for job_id, event in events:
            self.publish(job_id, event)

    def publish_now(self, job_id: str, event: JobEvent) -> None:
        """:meth:`publish` from a thread that may block (a pool thread): done by the time it returns
        where the bus can, saving the hand-over to its own publishing thread."""
        self.publish(job_id, event)

    @abstractmethod
    def subscribe(
        self, principal: Principal, job_id: str, *, limit: int = 0, on_overflow: Callable[[], None] | None = None
    ) -> Subscription:
        """Start receiving the job's events that ``principal`` may see (call from the event loop)."""

    @abstractmethod
    def subscribe_all(
        self, principal: Principal, *, limit: int = 0, on_overflow: Callable[[], None] | None = None
    ) -> Subscription:
        """Start receiving the events of every job that ``principal`` may see, each event's ``job_id``
        the job whose channel it came on (see :class:`Subscription` for ``limit``)."""

    @abstractmethod
    def add_listener(self, listener: Callable[[str, JobEvent], None]) -> None:
        """Call ``listener(job_id, event)`` in the event loop for every event of every job."""

    @abstractmethod
    def add_exclusive_listener(self, listener: Callable[[str, JobEvent], None]) -> None:
        """Call ``listener(job_id, event)`` for each event that ends a run (it carries ``duration``), in
        one process only of all those sharing the bus: what is counted once per job (the duration
        histogram) must not be counted once per API replica."""

    async def start(self) -> None:
        """Bind to the running event loop and connect."""

    async def stop(self) -> None: ...

    def healthy(self) -> bool:
        return True


class InProcessEventBus(EventBus):
    """Delivers events to waiters in this process; ``publish`` may come from any thread."""

    publish_blocks = False

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._listeners: list[Callable[[str, JobEvent], None]] = []
        #: Subscriptions to every job's events (the WebSocket of all of a user's jobs).
        self._every_job: set[Subscription] = set()

    def add_listener(self, listener: Callable[[str, JobEvent], None]) -> None:
        self._listeners.append(listener)

    def add_exclusive_listener(self, listener: Callable[[str, JobEvent], None]) -> None:
        # One process is the whole bus.
        self.add_listener(lambda job_id, event: listener(job_id, event) if event.duration is not None else None)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    def subscribe(
        self, principal: Principal, job_id: str, *, limit: int = 0, on_overflow: Callable[[], None] | None = None
    ) -> Subscription:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        sub = Subscription(self, principal, job_id, limit=limit, on_overflow=on_overflow)
        with self._lock:
            self._subscribers[job_id].add(sub)
        return sub

    def subscribe_all(
        self, principal: Principal, *, limit: int = 0, on_overflow: Callable[[], None] | None = None
    ) -> Subscription:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        sub = Subscription(self, principal, None, limit=limit, on_overflow=on_overflow)
        with self._lock:
            self._every_job.add(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub.job_id is None:
                self._every_job.discard(sub)
                return
            subs = self._subscribers.get(sub.job_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subscribers[sub.job_id]

    def subscriber_count(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._subscribers.values()) + len(self._every_job)

    def publish(self, job_id: str, event: JobEvent) -> None:
        self.publish_many([(job_id, event)])

    def publish_many(self, events: Sequence[tuple[str, JobEvent]]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._deliver_many(events)
        else:
            # One callback for all: the loop runs nothing else (a woken WAIT) between them.
            loop.call_soon_threadsafe(self._deliver_many, list(events))

    def _deliver_many(self, events: Sequence[tuple[str, JobEvent]]) -> None:
        for job_id, event in events:
            self._deliver(job_id, event)

    def _deliver(self, job_id: str, event: JobEvent) -> None:
        for listener in self._listeners:
            listener(job_id, event)
        with self._lock:
            subs = list(self._subscribers.get(job_id, ()))
            every = list(self._every_job)
        for sub in subs:
            sub.offer(event)
        if every:
            # A part's progress comes on its parent's channel: to a reader of every job, it is the parent's.
            if event.job_id != job_id:
                event = event.model_copy(update={"job_id": job_id})
            for sub in every:
                sub.offer(event)
