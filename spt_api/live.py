"""Live job updates, as the WebSockets send them: the current state first, then every change.

A :class:`LiveFeed` is one connection's messages: it subscribes to the job's events (or to all the
principal's jobs), reads the current state, and turns each event into a message. Its queue of events
is bounded (``SPT_API_WS_QUEUE_SIZE``): a client that does not read stops the sender, the queue fills,
and the feed says so (``on_overflow``) instead of holding more, so a slow client never grows the
server's memory.

The :class:`LiveHub` (one per API process) builds each change's message once: 500 sockets watching
one job cost one read of the job and one rendering of its document, not 500. It also knows every
open socket, to close them when the server stops.

Messages (JSON text), as ``CONTRACTS.md`` says::

    {"type": "job", "service": ..., "jobId": ..., "phase": ..., "progress": {...} | null, "job": {...}}
    {"type": "deleted", "service": ..., "jobId": ...}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from spt_api.events import JobEvent, Subscription
from spt_api.job_render import JobLinks, render_job
from spt_api.job_service import JobService
from spt_api.uws.errors import NotFoundError
from spt_api.uws.models import Job, Progress
from spt_api.uws.phases import FINAL_PHASES, ExecutionPhase
from spt_api.uws.principal import Principal

__all__ = ["MAX_CURRENT_JOBS", "LiveFeed", "LiveHub", "deleted_message", "job_message"]

#: The most jobs whose current state ``/api/events`` sends first (newest first).
MAX_CURRENT_JOBS = 100
#: Messages the hub remembers, by event: enough for every socket to send the last few changes
#: from one build, few enough to be a small, fixed amount of memory...
MESSAGE_MEMO = 256
#: ...and at most this many bytes of them: a job's document holds all its parameters, which can be
#: megabytes (a cutout of 490,000 positions).
MESSAGE_MEMO_BYTES = 32 * 1024 * 1024
#: The hub reads a changed job once for every socket that may see it: as the system, since each
#: socket's subscription has already dropped the events its principal may not see.
HUB_READER = Principal.system_actor("live-updates")
#: The phases a job of ``/api/events``'s first messages may be in: not final.
NOT_FINAL = tuple(p for p in ExecutionPhase if p not in FINAL_PHASES)


def _progress(progress: Progress | None) -> dict[str, Any] | None:
    if progress is None:
        return None
    return {"done": progress.done, "total": progress.total, "message": progress.message}


def job_message(job: Job, document: bytes, progress: Progress | None) -> bytes:
    """The ``job`` message: the job's phase and progress, and its JSON document as GET shows it."""
    head = json.dumps(
        {
            "type": "job",
            "service": job.service,
            "jobId": job.job_id,
            "phase": job.phase.value,
            "progress": _progress(progress),
        }
    )
    # The document is already JSON (rendered once, shared with GET): spliced in, not parsed again.
    return head[:-1].encode() + b', "job": ' + document + b"}"


def deleted_message(service: str | None, job_id: str) -> bytes:
    return json.dumps({"type": "deleted", "service": service, "jobId": job_id}).encode()


class Closable(Protocol):
    """An open socket, as the hub closes it when the server stops."""

    def close(self, code: int | None = None, reason: str | None = None) -> None: ...


class LiveHub:
    """The API process's live updates: each change's message built once, and the open sockets."""

    def __init__(self, jobs: JobService, on_too_slow: Callable[[], None] | None = None) -> None:
        self.jobs = jobs
        #: Called for each socket closed because its client did not keep up (a metric counts them).
        self.on_too_slow = on_too_slow
        self._memo: OrderedDict[tuple[int, str], tuple[JobEvent, asyncio.Future[tuple[Job | None, bytes]]]] = (
            OrderedDict()
        )
        self._open: set[Closable] = set()
        self._none_open = asyncio.Event()
        self._none_open.set()
        self.stopping = False

    # -- sockets ----------------------------------------------------------------------------------

    def opened(self, socket: Closable) -> None:
        self._open.add(socket)
        self._none_open.clear()

    def closed(self, socket: Closable) -> None:
        self._open.discard(socket)
        if not self._open:
            self._none_open.set()

    @property
    def open_count(self) -> int:
        return len(self._open)

    async def close_all(self, timeout: float) -> None:
        """Close every socket with 1001 (going away) and give them ``timeout`` seconds to finish."""
        self.stopping = True
        for socket in list(self._open):
            socket.close(1001, "server shutting down")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._none_open.wait(), timeout)

    # -- messages ---------------------------------------------------------------------------------

    async def message(self, job_id: str, event: JobEvent, links: JobLinks) -> tuple[Job | None, bytes]:
        """The message of ``event`` (on ``job_id``'s channel), with the job it shows (None: deleted).

        Every socket holding the same event object shares one build (one job read, one rendering).
        """
        if event.type == "deleted":
            return None, deleted_message(event.service, job_id)
        key = (id(event), links.origin)
        entry = self._memo.get(key)
        if entry is None or entry[0] is not event:
            task = asyncio.ensure_future(self._build(job_id, event, links))
            entry = (event, task)
            self._memo[key] = entry
            self._trim()
        build = entry[1]
        if build.done():
            return build.result()  # the other sockets' case: no trip through the event loop
        # Shielded: one socket closing while it waits must not cancel the build the others wait for.
        return await asyncio.shield(build)

    def _trim(self) -> None:
        """Forget the oldest messages past :data:`MESSAGE_MEMO` of them or :data:`MESSAGE_MEMO_BYTES`
        (a socket sending one still holds it; a socket that comes later builds it again)."""
        while len(self._memo) > MESSAGE_MEMO:
            self._memo.popitem(last=False)
        size = 0
        for key, (_, build) in reversed(self._memo.items()):
            if build.done() and not build.cancelled() and build.exception() is None:
                size += len(build.result()[1])
            if size > MESSAGE_MEMO_BYTES:
                stale = list(self._memo)[: list(self._memo).index(key) + 1]
                for old in stale:
                    del self._memo[old]
                return

    async def _build(self, job_id: str, event: JobEvent, links: JobLinks) -> tuple[Job | None, bytes]:
        try:
            job = await self.jobs.get(HUB_READER, event.service or "", job_id)
        except NotFoundError:
            return None, deleted_message(event.service, job_id)  # deleted since
        progress = job.progress
        if event.type == "progress" and event.done is not None and event.total is not None:
            progress = Progress(event.done, event.total, event.message or "")
        document = render_job(self.jobs.cache, HUB_READER, job, "json", links)
        return job, job_message(job, document, progress)


class LiveFeed:
    """One socket's messages: of one job (``job_id``), or of every job ``principal`` may see.

    Use as a context manager (the subscription lives as long as it does): :meth:`current` gives the
    first messages, then :meth:`changes` one per change, until the one job is deleted.
    """

    def __init__(
        self,
        hub: LiveHub,
        principal: Principal,
        links: JobLinks,
        *,
        limit: int,
        on_overflow: Callable[[], None],
        service: str | None = None,
        job_id: str | None = None,
    ) -> None:
        self.hub = hub
        self.principal = principal
        self.links = links
        self.service = service
        self.job_id = job_id
        self._limit = limit
        self._on_overflow = on_overflow
        self._sub: Subscription | None = None

    def __enter__(self) -> LiveFeed:
        # Subscribed before the current state is read: a change in between is sent, not lost.
        events = self.hub.jobs.events
        if self.job_id is not None:
            self._sub = events.subscribe(self.principal, self.job_id, limit=self._limit, on_overflow=self._on_overflow)
        else:
            self._sub = events.subscribe_all(self.principal, limit=self._limit, on_overflow=self._on_overflow)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._sub is not None:
            self._sub.close()

    async def current(self) -> AsyncIterator[bytes]:
        """The current state: the job (:class:`NotFoundError` if the principal may not see it), or each of
        the principal's jobs that is not final, newest first, at most :data:`MAX_CURRENT_JOBS`.

        One job at a time, each read as it is sent: a document holds all the job's parameters (it
        may be megabytes), so a socket never holds more than one of them.
        """
        jobs = self.hub.jobs
        if self.job_id is not None:
            refs = [(self.service or "", self.job_id)]
        else:
            listed = await jobs.call(jobs.store.list_refs, self.principal, phases=NOT_FINAL, limit=MAX_CURRENT_JOBS)
            refs = [(ref.service, ref.job_id) for ref in listed]
        for service, job_id in refs:
            try:
                job = await jobs.get(self.principal, service, job_id)
            except NotFoundError:
                if self.job_id is not None:
                    raise
                continue  # deleted since it was listed, or of a service no longer served
            yield job_message(job, render_job(jobs.cache, self.principal, job, "json", self.links), job.progress)

    async def changes(self) -> AsyncIterator[bytes]:
        """A message per change, as the events come; ends after the one job's deletion."""
        assert self._sub is not None, "use LiveFeed as a context manager"
        queue = self._sub.queue
        while True:
            event = await queue.get()
            job_id = self.job_id or event.job_id
            if job_id is None:
                continue
            job, message = await self.hub.message(job_id, event, self.links)
            if job is not None and job.parent_id is not None and self.job_id is None:
                continue  # a part of a job: the user's list shows the job, not its parts
            yield message
            if job is None and self.job_id is not None:
                return
