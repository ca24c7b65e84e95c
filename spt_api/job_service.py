"""``JobService``: every UWS rule between the handlers and the job store.

Handlers stay thin: they parse HTTP and call this. Store calls are blocking
(SQLAlchemy), so they run in a thread pool and the event loop never waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import sqlalchemy.exc
from botocore.exceptions import BotoCoreError, EndpointConnectionError

from spt_api.config import Settings
from spt_api.db import JobStore
from spt_api.db.store import DuplicateIdempotencyKeyError, new_job_id
from spt_api.events import EventBus, JobEvent
from spt_api.events.messages import apply_run_state, deleted_event, phase_event
from spt_api.idempotency import check_idempotency_key, replayed, request_fingerprint
from spt_api.job_cache import JobCache
from spt_api.job_inputs import (
    PlannedUpload,
    Upload,
    copy_sources,
    plan_uploads,
    prepare_inputs,
    refused_copy,
    upload_fingerprint,
)
from spt_api.maintenance import destroy
from spt_api.queue import Dispatcher
from spt_api.queue.base import new_task_id
from spt_api.services import ServiceSpec, input_fields
from spt_api.storage import ObjectStore
from spt_api.uws.errors import (
    ConflictError,
    JobNotSentError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
    UsageError,
)
from spt_api.uws.models import Job, JobRef, Progress, utcnow
from spt_api.uws.phases import ACTIVE_PHASES, FINAL_PHASES, ExecutionPhase
from spt_api.uws.principal import Principal
from spt_api.uws.requests import first_value, parse_datetime, parse_duration, parse_phase_action
from spt_api.uws.workers import missing_capabilities

__all__ = ["JobService"]

T = TypeVar("T")

#: Who acts when the service reacts to an event (it updates its own cache) rather than to a request.
_EVENTS = Principal.system_actor("events")
#: Who reads the live worker registry for a submission's placement check.
_WORKERS = Principal.system_actor("placement")
#: Above these, a request's parameters are validated in a thread: 490,000 POS values take seconds.
LARGE_PARAMETER_COUNT = 1000
LARGE_PARAMETER_CHARS = 64 * 1024
#: Tries of a parameter update that lost the race to a concurrent one (each re-reads and merges again).
PARAMETER_UPDATE_TRIES = 10

#: Longest a WAIT trusts events alone before re-reading the job: a safety net for a lost event
#: (e.g. Redis restarted between publish and subscribe), not the wake-up mechanism.
WAIT_RECHECK_SECONDS = 5.0
MAX_RUN_ID = 64


@contextlib.contextmanager
def _unavailable_as_503() -> Iterator[None]:
    """An unreachable job database or result storage is a 503."""
    try:
        yield
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as exc:
        raise ServiceUnavailableError(f"the job database is unavailable: {exc.orig or exc}") from exc
    except (BotoCoreError, EndpointConnectionError) as exc:
        raise ServiceUnavailableError(f"the result storage is unavailable: {exc}") from exc


class AnnouncesAndSends(Protocol):
    """A QUEUED job's event and its message in one step (:class:`spt_api.announced_send.AnnouncedSend`)."""

    def __call__(self, job: Job, event: JobEvent) -> None: ...

    async def send_async(self, job: Job, event: JobEvent) -> None: ...

    async def close_async(self) -> None: ...


class JobService:
    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        dispatcher: Dispatcher,
        events: EventBus,
        objects: ObjectStore,
        services: Mapping[str, ServiceSpec],
        *,
        announced_send: AnnouncesAndSends | None = None,
    ) -> None:
        """``announced_send``: publishes a QUEUED job's event and sends the job in one step (raising what a
        failed send raised), where the event bus and the dispatcher can (one Redis for both: see
        :mod:`spt_api.announced_send`); else the event goes out on ``events``, then ``dispatcher`` sends."""
        self.settings = settings
        self.store = store
        self.dispatcher = dispatcher
        self.events = events
        self.objects = objects
        self.services = services
        self.announced_send = announced_send
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="jobstore")
        self.cache = JobCache(settings.job_cache_ttl)
        #: Marks the events of this service's own changes, whose cache entries it has already updated.
        self.origin = secrets.token_hex(8)
        events.add_listener(self._on_event)
        #: Whether a job may be stored and sent from the event loop itself (see :meth:`_create_now`): the
        #: store can write without waiting (SQLite), and sending and announcing wait for nothing either
        #: (the embedded pool and the in-process bus; Celery and Redis are network round trips).
        self._sends_now = not dispatcher.send_blocks and not events.publish_blocks
        #: Whether a job may be stored and sent by coroutines on the event loop (see :meth:`_create_on_loop`):
        #: PostgreSQL, with one Redis as the event bus and the broker.
        self._creates_on_loop = store.inserts_on_loop and announced_send is not None

    def _on_event(self, job_id: str, event: JobEvent) -> None:
        # An event of our own change comes back from Redis after we cached the changed job: dropping
        # that entry would only cost the next WAIT a database read.
        if event.origin == self.origin:
            return
        cached = self.cache.get(_EVENTS, job_id)
        self.cache.invalidate(job_id)
        state = event.state
        if cached is not None and state is not None:
            # A worker's event says what it changed: the cached job, moved forward, is as good as a read.
            updated = apply_run_state(cached, state)
            if updated is not None:
                self.cache.put(updated, self.cache.token())

    def _announce(self, job_id: str, event: JobEvent) -> None:
        """Publish the event of a change this service made through :meth:`change` or :meth:`create`."""
        self.events.publish(job_id, event.model_copy(update={"origin": self.origin}))

    async def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking backend call in the thread pool; an unreachable backend is a 503."""
        loop = asyncio.get_running_loop()
        with _unavailable_as_503():
            return await loop.run_in_executor(self._pool, lambda: func(*args, **kwargs))

    async def change(self, job_id: str, func: Callable[..., T], *args: Any) -> T:
        """A store write to ``job_id``, then its cache entry dropped: after the write, so a read that
        raced with it cannot put the old job back (see :class:`~spt_api.job_cache.JobCache`)."""
        try:
            return await self.call(func, *args)
        finally:
            self.cache.invalidate(job_id)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _validated(self, spec: ServiceSpec, pairs: Sequence[tuple[str, str]]) -> Any:
        """``spec``'s parameter model of ``pairs``; validated in a thread when there are many of them."""
        if len(pairs) > LARGE_PARAMETER_COUNT or sum(len(v) for _, v in pairs) > LARGE_PARAMETER_CHARS:
            return await self.call(spec.params_model.from_uws, pairs)
        return spec.params_model.from_uws(pairs)

    def service(self, name: str) -> ServiceSpec:
        spec = self.services.get(name)
        if spec is None:
            raise NotFoundError(f"no service {name!r}; see /api/services")
        return spec

    # -- creation and reads --------------------------------------------------------------------------

    async def create(
        self,
        principal: Principal,
        service: str,
        pairs: Sequence[tuple[str, str]],
        *,
        sync: bool = False,
        idempotency_key: str | None = None,
        uploads: Sequence[Upload] = (),
    ) -> Job:
        """A new job, PENDING, or QUEUED and sent with ``PHASE=RUN``; ``sync``: made by a DALI sync request.

        With an ``idempotency_key`` (the request's ``Idempotency-Key`` header): the job the principal
        created with that key already, if any (see :mod:`spt_api.idempotency`). ``uploads``: file parts
        of the service's ``InputFile`` parameters, stored byte for byte before the job is created."""
        spec = self.service(service)
        fingerprint = None
        if idempotency_key is not None:
            idempotency_key = check_idempotency_key(idempotency_key)
            fingerprint = request_fingerprint(service, [*pairs, *upload_fingerprint(uploads)])
            found = await self.call(self.store.find_idempotent, principal, idempotency_key)
            if found is not None:
                return replayed(idempotency_key, fingerprint, *found)
        job_id = new_job_id()
        pairs, planned = plan_uploads(spec, job_id, pairs, uploads)
        params = await self._validated(spec, pairs)  # 400 now rather than an ERROR job later
        await self._check_copies(principal, planned)
        run_id = first_value(pairs, "RUNID")
        if run_id is not None and len(run_id) > MAX_RUN_ID:
            raise UsageError(f"RUNID is limited to {MAX_RUN_ID} characters", parameter="RUNID")
        phase = first_value(pairs, "PHASE")
        if phase is not None and phase.strip().upper() != "RUN":
            raise UsageError(f"PHASE at job creation may only be RUN, not {phase!r}", parameter="PHASE")
        duration = self._duration(spec, first_value(pairs, "EXECUTIONDURATION"))
        destruction = self._destruction(first_value(pairs, "DESTRUCTION"))
        stored = [(k, v) for k, v in pairs if k.lower() not in ("phase", "runid", "executionduration", "destruction")]
        # Uploads stored, references and headers checked (the service's check_inputs): a 400 now, before
        # the job is stored (in the same trip to the pool as the INSERT and the send).
        token = self.cache.token()
        loop = asyncio.get_running_loop()
        values: dict[str, Any] = {
            "job_id": job_id,
            "service": service,
            "parameters": stored,
            "execution_duration": duration,
            "destruction_time": destruction,
            "run_id": run_id,
            "queued": phase is not None,
            "task_id": new_task_id(job_id) if phase is not None else None,
            "sync": sync,
            "idempotency_key": idempotency_key,
            "request_hash": fingerprint,
        }
        try:
            created = None
            # Without a thread when nothing else is to be done first (uploads, input checks, placement, a key).
            simple = idempotency_key is None and not planned and self._nothing_to_prepare(spec)
            if simple and self._creates_on_loop:
                created = await self._create_on_loop(principal, spec, params, **values)
            elif simple and self._sends_now:
                with _unavailable_as_503():
                    created = self._create_now(principal, spec, params, loop, **values)
            if created is None:
                created = await self.call(
                    self._create_and_send, principal, pairs, planned, spec, params, loop, **values
                )
            job, unsent = created
        except DuplicateIdempotencyKeyError:
            # A concurrent retry with the same key created the job first: this request is its replay.
            assert idempotency_key is not None and fingerprint is not None
            found = await self.call(self.store.find_idempotent, principal, idempotency_key)
            if found is None:  # deleted in between: rare enough to let the client try again
                raise ConflictError(f"the job of Idempotency-Key {idempotency_key!r} was just deleted") from None
            return replayed(idempotency_key, fingerprint, *found)
        self.cache.put(job, token)
        if unsent is not None:
            raise self._not_sent(job, unsent)
        return job

    def _create_and_send(
        self,
        principal: Principal,
        pairs: Sequence[tuple[str, str]],
        planned: Sequence[PlannedUpload],
        spec: ServiceSpec,
        params: Any,
        loop: asyncio.AbstractEventLoop,
        **values: Any,
    ) -> tuple[Job, Exception | None]:
        """Store the inputs and the job, then (QUEUED) note its placement, announce and send it: one trip to
        the thread pool for all (each trip costs the loop and a pool thread a wake-up). Returns the job and
        the exception of a failed send, if any.

        Uploads are removed when no job takes them: refused ones by :func:`prepare_inputs` itself, the
        others when the INSERT fails. Once the job is stored they are its inputs, whatever fails next."""
        job_id = values["job_id"]
        prepare_inputs(spec, params, pairs, planned, self.objects, self.settings, job_id, self.live_workers)
        # Placed only now: the service's check_inputs (in prepare_inputs) may have read from the input
        # headers what queue_for decides by (a GPU model's inputs go to inference-gpu).
        try:
            job = self.store.create(principal, queue=spec.queue_of(params), **values)
        except BaseException:
            self._remove_uploads(planned)
            raise
        if job.phase != ExecutionPhase.QUEUED:
            return job, None
        job = self._placed(spec, params, job)
        return job, self._announce_and_send(job, loop)

    def _nothing_to_prepare(self, spec: ServiceSpec) -> bool:
        """True when :func:`prepare_inputs` and :meth:`_placed` do nothing for a job of ``spec`` with no
        uploads: it has no input files, no ``check_inputs`` (which may read storage) and no requirements
        (whose check reads the worker registry)."""
        return not input_fields(spec.params_model) and spec.check_inputs is None and spec.requirements is None

    def _create_now(
        self, principal: Principal, spec: ServiceSpec, params: Any, loop: asyncio.AbstractEventLoop, **values: Any
    ) -> tuple[Job, Exception | None] | None:
        """:meth:`_create_and_send` on the event loop, saving the trip to the thread pool (two thread
        wake-ups, which cost a job more than its INSERT), for a job with nothing to prepare: store it, then
        announce and send it. None, with nothing stored, when the store would have to wait for it (another
        writer holds SQLite's lock): the caller goes to the pool."""
        job = self.store.create_now(principal, queue=spec.queue_of(params), **values)
        if job is None:
            return None
        if job.phase != ExecutionPhase.QUEUED:
            return job, None
        return job, self._announce_and_send(job, loop)

    async def _create_on_loop(
        self, principal: Principal, spec: ServiceSpec, params: Any, **values: Any
    ) -> tuple[Job, Exception | None] | None:
        """:meth:`_create_and_send` of a job with nothing to prepare, by coroutines on the event loop: the
        INSERT on PostgreSQL's asynchronous connection, then the event and the message in one Redis write,
        with no trip to the thread pool (two thread wake-ups, about a third of a submission's latency on
        two cores). None when the store could not write from the loop: the caller goes to the pool."""
        assert self.announced_send is not None
        job = await self.store.create_on_loop(principal, queue=spec.queue_of(params), **values)
        if job is None or job.phase != ExecutionPhase.QUEUED:
            return None if job is None else (job, None)
        # On the loop already: the stored QUEUED job is cached before any event of it can be delivered.
        self._cache_stored(job)
        try:
            await self.announced_send.send_async(job, phase_event(job).model_copy(update={"origin": self.origin}))
        except Exception as exc:
            return job, exc
        return job, None

    async def close_loop_connections(self) -> None:
        """Close what the event loop itself holds (see :meth:`_create_on_loop`); before the loop stops."""
        self.store.close_loop_connections()
        if self.announced_send is not None:
            await self.announced_send.close_async()

    def _queue_and_send(
        self, principal: Principal, job_id: str, loop: asyncio.AbstractEventLoop
    ) -> tuple[Job, Exception | None]:
        """PENDING → QUEUED stored, placement noted, then announced and sent, in one trip to the thread pool."""
        job = self.store.queue(principal, job_id, new_task_id(job_id))
        spec = self.service(job.service)
        if spec.requirements is not None:
            job = self._placed(spec, spec.params_model.from_uws(job.parameters), job)
        return job, self._announce_and_send(job, loop)

    def _announce_and_send(self, job: Job, loop: asyncio.AbstractEventLoop) -> Exception | None:
        """Once the job is stored QUEUED: its event, then its message; what a failed send raised (the job
        stays QUEUED and the reconciler sends it again), else None. In a pool thread, or on the event loop
        when neither the dispatcher nor the bus blocks (:meth:`_create_now`)."""
        # The stored QUEUED job replaces any cached copy before the event is out: the loop runs this
        # callback before it can deliver the event (in process, or back from Redis) or any later one (a
        # worker's, after the send), so a listener reading the job sees QUEUED, not PENDING nor a later read.
        with contextlib.suppress(RuntimeError):  # the loop closed: the server is gone, and its cache
            loop.call_soon_threadsafe(self._cache_stored, job)
        event = phase_event(job).model_copy(update={"origin": self.origin})
        if self.announced_send is not None:
            # One round trip for both, the event first; an event not published is logged, as below.
            try:
                self.announced_send(job, event)
            except Exception as exc:
                return exc
            return None
        self.events.publish_now(job.job_id, event)
        try:
            self.dispatcher.send(job)
        except Exception as exc:
            return exc
        return None

    def _cache_stored(self, job: Job) -> None:
        self.cache.invalidate(job.job_id)
        self.cache.put(job, self.cache.token())

    @staticmethod
    def _not_sent(job: Job, exc: Exception) -> JobNotSentError:
        # The job stays QUEUED and the reconciler will send it again; the client learns now.
        error = JobNotSentError(
            f"job {job.job_id} is QUEUED but the job queue is unreachable ({exc}); "
            "it will be sent when the queue is back",
            service=job.service,
            job_id=job.job_id,
        )
        error.__cause__ = exc
        return error

    def _placed(self, spec: ServiceSpec, params: Any, job: Job) -> Job:
        """A QUEUED job no live worker server can take says why it waits ("waiting for a server with gpu")
        (blocking: in the pool thread that sends the job)."""
        if spec.requirements is None:
            return job
        needed = spec.requirements(params)
        if not needed:
            return job
        missing = missing_capabilities(needed, self.live_workers(), job.queue)
        if not missing:
            return job
        progress = Progress(0, 0, f"waiting for a server with {', '.join(sorted(missing))} (queue {job.queue})")
        self.store.set_progress(_WORKERS, job.job_id, progress)
        return replace(job, progress=progress)

    async def _check_copies(self, principal: Principal, planned: Sequence[PlannedUpload]) -> None:
        """Another job's upload, named by its key, is copied into the new job's inputs only when the
        principal may see that job (read with the principal: another user's job reads as missing)."""
        for job_id, item in copy_sources(planned):
            if await self.call(self.store.get, principal, job_id) is None:
                raise refused_copy(item, self.settings)

    async def _drop_uploads(self, planned: Sequence[PlannedUpload]) -> None:
        """Remove uploads that no job took, in one trip to the pool (see :meth:`_remove_uploads`)."""
        if planned:
            await self.call(self._remove_uploads, planned)

    def _remove_uploads(self, planned: Sequence[PlannedUpload]) -> None:
        """Remove uploads that no job took (blocking; best effort: cleanup sweeps nothing else)."""
        for item in planned:
            with contextlib.suppress(Exception):
                self.objects.delete_prefix(item.key)

    def live_workers(self) -> list[Any]:
        """The live worker servers (blocking; read as the system: they are nobody's jobs)."""
        live = getattr(self.store, "live_workers", None)
        return live(_WORKERS, self.settings.heartbeat_timeout) if live is not None else []

    def _duration(self, spec: ServiceSpec, value: str | None) -> int:
        if value is None:
            return spec.default_execution_duration or self.settings.default_execution_duration
        seconds = parse_duration(value)
        # UWS §2.1.4: the server may substitute its own limit; 0 (unlimited) is capped too.
        limit = self.settings.max_execution_duration
        return limit if seconds == 0 or seconds > limit else seconds

    def _destruction(self, value: str | None) -> datetime:
        now = utcnow()
        if value is None:
            return now + timedelta(seconds=self.settings.default_lifetime)
        when = parse_datetime(value, "DESTRUCTION")
        latest = now + timedelta(seconds=self.settings.max_lifetime)
        return min(when, latest)

    async def get(self, principal: Principal, service: str, job_id: str) -> Job:
        self.service(service)
        return await self._read(principal, service, job_id)

    async def _read(self, principal: Principal, service: str, job_id: str) -> Job:
        """The job from the cache, else from the database (then cached)."""
        cached = self.cache.get(principal, job_id)
        if cached is not None and cached.service == service:
            return cached
        return await self._fetch(principal, service, job_id)

    async def _fetch(self, principal: Principal, service: str, job_id: str) -> Job:
        """The job from the database, then cached (unless it changed while it was read)."""
        token = self.cache.token()
        job = await self.call(self.store.require, principal, job_id, service=service)
        self.cache.put(job, token)
        return job

    async def list(
        self,
        principal: Principal,
        service: str,
        phases: Sequence[ExecutionPhase],
        after: datetime | None,
        last: int | None,
        owner: str | None = None,
    ) -> list[JobRef]:
        """The principal's jobs (an admin's: everyone's, or ``owner``'s: a subject or a login name)."""
        self.service(service)
        return await self.call(
            self.store.list_refs,
            principal,
            service=service,
            owner=owner,
            phases=phases,
            after=after,
            last=last,
            limit=self.settings.list_max,
        )

    async def wait(
        self, principal: Principal, service: str, job_id: str, timeout: float, phase: ExecutionPhase | None
    ) -> Job:
        """The job once it leaves its phase (UWS §2.2.1.2), woken by its events, or after ``timeout``.

        Subscribing before reading the job means a change made between the two is not lost. The first
        read may come from the cache: an event that made the cached job stale either dropped it before
        the subscription (so the read goes to the database) or arrives after it and wakes this WAIT.
        """
        self.service(service)
        with self.events.subscribe(principal, job_id) as sub:
            job = await self._read(principal, service, job_id)
            start_phase = job.phase
            if start_phase in ACTIVE_PHASES and (phase is None or start_phase == phase):
                deadline = time.monotonic() + timeout
                while job.phase == start_phase:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    event = await sub.next(min(remaining, WAIT_RECHECK_SECONDS))
                    if event is None:
                        # No event for a while: read the database, in case one was lost.
                        job = await self._fetch(principal, service, job_id)
                    elif event.type != "progress":
                        # The event's listeners ran first: the cache holds the changed job, or nothing.
                        job = await self._read(principal, service, job_id)
        return job

    async def wait_final(self, principal: Principal, service: str, job_id: str, timeout: float) -> Job:
        """The job once it reaches a final phase, or as it is after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        job = await self.get(principal, service, job_id)
        while job.phase not in FINAL_PHASES:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            job = await self.wait(principal, service, job_id, remaining, job.phase)
        return job

    # -- changes -------------------------------------------------------------------------------------

    async def run(self, principal: Principal, job: Job) -> Job:
        loop = asyncio.get_running_loop()
        queued, unsent = await self.change(job.job_id, self._queue_and_send, principal, job.job_id, loop)
        if unsent is not None:
            raise self._not_sent(queued, unsent)
        return queued

    async def abort(self, principal: Principal, job: Job) -> Job:
        aborted = await self.change(job.job_id, self.store.abort, principal, job.job_id)
        self._announce(job.job_id, phase_event(aborted))
        # Whatever phase the (possibly cached) job showed, stop any execution: revoking an idle task is harmless.
        await self.call(self.dispatcher.abort, aborted)
        for child in await self.call(self.store.abort_children, principal, job.job_id):
            self.events.publish(child.job_id, phase_event(child))
            await self.call(self.dispatcher.abort, child)
        return aborted

    async def change_phase(self, principal: Principal, job: Job, value: str | None) -> Job:
        action = parse_phase_action(value)
        return await (self.run(principal, job) if action == "RUN" else self.abort(principal, job))

    async def set_execution_duration(self, principal: Principal, job: Job, value: str | None) -> Job:
        if value is None:
            raise UsageError("missing parameter EXECUTIONDURATION", parameter="EXECUTIONDURATION")
        seconds = self._duration(self.service(job.service), value)
        return await self.change(job.job_id, self.store.set_execution_duration, principal, job.job_id, seconds)

    async def set_destruction(self, principal: Principal, job: Job, value: str | None) -> Job:
        if value is None:
            raise UsageError("missing parameter DESTRUCTION", parameter="DESTRUCTION")
        return await self.change(
            job.job_id, self.store.set_destruction, principal, job.job_id, self._destruction(value)
        )

    async def update_parameters(
        self, principal: Principal, job: Job, pairs: Sequence[tuple[str, str]], uploads: Sequence[Upload] = ()
    ) -> Job:
        """Set ``pairs`` (and the ``uploads`` of ``InputFile`` parameters) on a PENDING job."""
        if job.phase != ExecutionPhase.PENDING:
            raise PermissionDeniedError(
                f"parameters can only be changed while the job is PENDING (it is {job.phase.value})"
            )
        if not pairs and not uploads:
            raise UsageError("no parameters given", parameter="parameters")
        spec = self.service(job.service)
        # New uploads get names of their own: the job's current input stays until the change is made.
        pairs, planned = plan_uploads(spec, job.job_id, pairs, uploads, unique=True)
        await self._check_copies(principal, planned)
        try:
            return await self._update_parameters(principal, spec, job, pairs, planned)
        except BaseException:
            await self._drop_uploads(planned)
            raise

    async def _update_parameters(
        self,
        principal: Principal,
        spec: ServiceSpec,
        job: Job,
        pairs: Sequence[tuple[str, str]],
        planned: Sequence[Any],
    ) -> Job:
        # DALI §2.1: a POST to .../parameters sets these parameters; the others are kept. The merge is
        # a compare-and-swap on the stored list: a concurrent update makes it read and merge again,
        # where a plain write would lose one of the two changes.
        changed = {k.lower() for k, _ in pairs}
        current = job
        for _ in range(PARAMETER_UPDATE_TRIES):
            merged = [(k, v) for k, v in current.parameters if k.lower() not in changed] + list(pairs)
            params = await self._validated(spec, merged)
            # The inputs are checked as at creation (references, the service's check_inputs)...
            await self.call(
                prepare_inputs, spec, params, merged, planned, self.objects, self.settings, job.job_id,
                self.live_workers,
            )
            planned = ()  # stored once; a retry of the compare-and-swap checks them as references
            # ...and the job's queue was chosen at creation: a change that needs other servers is refused.
            if spec.queue_of(params) != job.queue:
                raise UsageError(
                    f"this change would need a worker of queue {spec.queue_of(params)!r}, and the job was "
                    f"placed on {job.queue!r} when it was created: create a new job instead",
                    parameter=pairs[0][0],
                )
            updated = await self.change(
                job.job_id, self.store.replace_parameters, principal, job.job_id, current.parameters, merged
            )
            if updated is not None:
                return updated
            current = await self.call(self.store.require, principal, job.job_id, service=job.service)
        raise ServiceUnavailableError("the job's parameters kept changing under this update: try again")

    async def delete(self, principal: Principal, job: Job) -> None:
        if job.parent_id is not None:
            # A part deleted on its own would leave its parent to merge the others and end COMPLETED
            # with a part silently missing: a child goes with its parent only.
            raise PermissionDeniedError(
                f"job {job.job_id} is a part of job {job.parent_id} and cannot be deleted on its own; "
                f"delete job {job.parent_id} instead"
            )
        if job.phase in (ExecutionPhase.QUEUED, ExecutionPhase.EXECUTING):
            try:
                job = await self.abort(principal, job)
            except PermissionDeniedError:
                pass  # it finished meanwhile
        # Should the storage be down, the 503 leaves the job in place to delete again (see destroy).
        await self.change(job.job_id, destroy, principal, self.store, self.objects, job)
        self._announce(job.job_id, deleted_event(job))
