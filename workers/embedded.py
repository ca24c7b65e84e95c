"""The embedded executor: a small pool of child processes running the same task code as Celery.

Why processes: a thread cannot be stopped from outside, and ABORT and
executionDuration must stop a job. A killed child is replaced (as Safir's arq
worker recreates its pool). Each child has its own pipe to the supervisor, so
killing one in the middle of a write cannot jam the others. A child whose parent
(the API process) dies exits at once and records nothing: its job stays EXECUTING
for the next start to requeue (spt_api.recovery).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, NoReturn

from spt_api.config import Settings
from spt_api.db import JobStore
from spt_api.events import EventPublisher, JobEvent
from spt_api.events.messages import phase_event
from spt_api.maintenance import MAINTENANCE, abort_overrun
from spt_api.queue.base import Dispatcher
from spt_api.scratch import remove_job_scratch
from spt_api.services import ServiceRegistry
from spt_api.uws.models import ErrorSummary, ErrorType, Job
from spt_api.uws.phases import ExecutionPhase

__all__ = ["EmbeddedDispatcher"]

log = logging.getLogger(__name__)

#: Exit status of a child whose parent died (nobody reads it; it tells a core dump or a log apart).
EXIT_ORPHANED = 3
#: Niceness of the pool's processes, above the API process's 0: a busy pool must not slow the API down.
POOL_NICENESS = 10
#: Longest the supervisor sleeps when nothing has a deadline; bounds how late a shutdown is seen.
SUPERVISOR_TICK = 1.0


def _orphaned() -> NoReturn:
    """The parent (the API process) is gone: exit at once, recording nothing.

    Its job stays EXECUTING with this process's worker id: the next API start requeues it
    (spt_api.recovery), as it does when the whole process group is killed. Going on would record
    the job as ERROR (the next event hits a broken pipe) or run it on for a pool that is gone.
    """
    os._exit(EXIT_ORPHANED)


def _watch_parent() -> None:
    """Exit when the parent dies, even in the middle of a job that sends no event for a while."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])  # ready (EOF) once the parent has exited, however it died
        _orphaned()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class _PipePublisher:
    """Child side: events go up the pipe; the supervisor republishes them on the real bus."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.lock = threading.Lock()

    def send(self, message: tuple[str, str | None, Any]) -> None:
        try:
            with self.lock:
                self.conn.send(message)
        except OSError:  # BrokenPipeError, ConnectionResetError: the supervisor is gone
            _orphaned()

    def publish(self, job_id: str, event: JobEvent) -> None:
        self.send(("event", job_id, event))

    def publish_many(self, events: Sequence[tuple[str, JobEvent]]) -> None:
        self.send(("events", None, list(events)))

    def dispatch(self, job: Job) -> None:
        """Fan-out children are queued by the supervisor, which owns the pool."""
        self.send(("dispatch", job.job_id, None))


def _child_main(conn: Connection, settings_data: dict[str, Any]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which stops us
    _watch_parent()
    with contextlib.suppress(OSError):
        # The API shares this machine with its pool: its event loop (every GET and WAIT) wins the CPU.
        os.nice(POOL_NICENESS)
    from workers.runtime import build_runtime
    from workers.tasks import execute_job

    settings = Settings.model_validate(settings_data)
    publisher = _PipePublisher(conn)
    services = ServiceRegistry.from_entry_points(settings.enabled_services)
    runtime = build_runtime(settings, services, events=publisher, dispatch=publisher.dispatch)
    from workers.capabilities import capabilities_of

    # Detected here, not in the API process: detection imports onnxruntime.
    publisher.send(("ready", None, sorted(capabilities_of(settings))))
    while True:
        try:
            job_id = conn.recv()
        except (EOFError, OSError):
            return
        if job_id is None:
            return
        phase = None
        try:
            phase = execute_job(job_id, runtime)
        except Exception:
            log.exception("job %s crashed the task code", job_id)
        publisher.send(("done", job_id, phase.value if phase else None))


def _now(chore: Callable[[], None]) -> None:
    chore()


@dataclass
class _Slot:
    process: Any
    conn: Connection
    ready: bool = False
    job: Job | None = None
    deadline: float | None = None
    kill_reason: str | None = None
    started: float = field(default_factory=time.monotonic)
    #: The pipe's descriptor while the event loop watches it (see EmbeddedDispatcher._watch).
    watched: int | None = None


class EmbeddedDispatcher(Dispatcher):
    #: A send appends to a list in memory and writes a byte to the supervisor's pipe: the event loop may call it.
    send_blocks = False

    def __init__(self, settings: Settings, store: JobStore, events: EventPublisher) -> None:
        self.settings = settings
        self.store = store
        self.events = events
        self.size = settings.embedded_pool_size
        self._mp = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._pending: deque[Job] = deque()
        self._slots: list[_Slot] = []
        self._wake_r, self._wake_w = self._mp.Pipe(duplex=False)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._settings_data = settings.model_dump()
        self._presence: Any = None
        #: The API's event loop, which reads the processes' pipes (None: the supervisor reads them).
        self._loop: asyncio.AbstractEventLoop | None = None
        #: What a message read on the loop asked for that may block (a store read, a process to replace):
        #: done by the supervisor, in order.
        self._chores: deque[Callable[[], None]] = deque()

    # -- public --------------------------------------------------------------------------------------

    def start(self) -> None:
        # The processes' messages are read by the event loop when there is one: a job's end event then
        # wakes the loop once, straight from the pipe, where the supervisor thread took two thread
        # wake-ups (its own, then the loop's) and as many hand-overs of the GIL.
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()
        with self._lock:
            self._slots = [self._spawn() for _ in range(self.size)]
            slots = list(self._slots)
        for slot in slots:
            self._watch(slot)
        self._thread = threading.Thread(target=self._supervise, name="embedded-supervisor", daemon=True)
        self._thread.start()

    def _register(self, capabilities: list[str]) -> None:
        """The pool joins the live worker registry (every queue: it runs every job), once its first
        process has said what it can run."""
        from workers.presence import WorkerPresence

        queues = ServiceRegistry.from_entry_points(self.settings.enabled_services).queues()
        worker_id = f"{socket.gethostname()}:{os.getpid()}:embedded"
        self._presence = WorkerPresence(self.store, worker_id, queues, capabilities, self.settings.heartbeat_interval)
        self._presence.start()

    def stop(self) -> None:
        if self._presence is not None:
            self._presence.stop()
        self._stopping.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for slot in self._slots:
                self._unwatch(slot)
                slot.process.kill()
                slot.process.join(timeout=2)
            self._slots = []

    def send(self, job: Job) -> str | None:
        # Straight to an idle process when there is one: the supervisor's wake-up (a thread switch, a
        # wait() on every pipe) cost each job's start as much as its claim. A job that finds none waits
        # in the list for the next "done" or "ready" message, whose reader dispatches it (under the same
        # lock: no message is missed).
        with self._lock:
            self._pending.append(job)
            self._dispatch_locked()
            # The supervisor must wake for a deadline nearer than its longest sleep (the one it sleeps
            # towards was computed before this job started).
            wake = any(
                slot.deadline is not None and slot.deadline < time.monotonic() + SUPERVISOR_TICK
                for slot in self._slots
                if slot.job is job
            )
        if wake:
            self._wake()
        return None

    def abort(self, job: Job) -> None:
        with self._lock:
            self._pending = deque(j for j in self._pending if j.job_id != job.job_id)
            for slot in self._slots:
                if slot.job is not None and slot.job.job_id == job.job_id:
                    slot.kill_reason = "abort"
                    slot.process.kill()

    def queue_depths(self) -> dict[str, int]:
        # By the jobs' own queues, as Celery's are counted: the reconciler looks a job's backlog up there.
        depths: dict[str, int] = {}
        with self._lock:
            for job in self._pending:
                depths[job.queue] = depths.get(job.queue, 0) + 1
        return depths

    def check(self) -> None:
        with self._lock:
            alive = sum(1 for slot in self._slots if slot.process.is_alive())
        if self._thread is None or not self._thread.is_alive() or alive == 0:
            raise RuntimeError("embedded worker pool is not running")

    # -- supervisor ----------------------------------------------------------------------------------

    def _wake(self) -> None:
        try:
            self._wake_w.send_bytes(b"1")
        except OSError:
            pass

    def _spawn(self) -> _Slot:
        parent, child = self._mp.Pipe()
        process = self._mp.Process(
            target=_child_main, args=(child, self._settings_data), daemon=True, name="spt-embedded-worker"
        )
        process.start()
        child.close()
        return _Slot(process=process, conn=parent)

    # -- the processes' pipes, read by the event loop -------------------------------------------------

    def _watch(self, slot: _Slot) -> None:
        """Have the event loop read ``slot``'s pipe (in the loop: call it there, or through :meth:`_watch_soon`)."""
        loop = self._loop
        if loop is None or loop.is_closed() or self._stopping.is_set() or slot.conn.closed:
            return
        slot.watched = slot.conn.fileno()
        loop.add_reader(slot.watched, self._on_readable, slot)

    def _watch_soon(self, slot: _Slot) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the server is gone
                self._loop.call_soon_threadsafe(self._watch, slot)

    def _unwatch(self, slot: _Slot) -> None:
        """Stop reading ``slot``'s pipe; before it is closed, so that its descriptor's reuse is not watched."""
        fd, slot.watched = slot.watched, None
        if fd is None or self._loop is None or self._loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._loop.remove_reader(fd)
        else:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._loop.remove_reader, fd)

    def _on_readable(self, slot: _Slot) -> None:
        """In the event loop: the messages waiting in ``slot``'s pipe (a message is written whole, in one
        write of a few hundred bytes, so reading it never waits for the process)."""
        try:
            self._read_messages(slot, in_loop=True)
        except (EOFError, OSError):
            self._unwatch(slot)
            self._chore(lambda: self._replace(slot))

    def _chore(self, chore: Callable[[], None]) -> None:
        with self._lock:
            self._chores.append(chore)
        self._wake()

    def _run_chores(self) -> None:
        while True:
            with self._lock:
                if not self._chores:
                    return
                chore = self._chores.popleft()
            try:
                chore()
            except Exception:
                log.exception("embedded pool: a supervisor's task failed")

    # -- supervisor ----------------------------------------------------------------------------------

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                # Read here only when no event loop reads them.
                conns = [slot.conn for slot in self._slots] if self._loop is None else []
                deadlines = [slot.deadline for slot in self._slots if slot.deadline is not None]
            timeout = SUPERVISOR_TICK
            if deadlines:
                timeout = max(0.0, min(timeout, min(deadlines) - time.monotonic()))
            try:
                ready = wait([*conns, self._wake_r], timeout=timeout)
            except OSError:
                ready = []
            for conn in ready:
                if conn is self._wake_r:
                    while self._wake_r.poll():
                        self._wake_r.recv_bytes()
                    continue
                self._read_child(conn)  # type: ignore[arg-type]
            self._run_chores()
            self._enforce_deadlines()
            self._dispatch()

    def _slot_for(self, conn: Connection) -> _Slot | None:
        with self._lock:
            return next((slot for slot in self._slots if slot.conn is conn), None)

    def _read_child(self, conn: Connection) -> None:
        slot = self._slot_for(conn)
        if slot is None:
            return
        try:
            self._read_messages(slot, in_loop=False)
        except (EOFError, OSError):
            self._replace(slot)

    def _read_messages(self, slot: _Slot, *, in_loop: bool) -> None:
        """Act on the messages waiting in ``slot``'s pipe, in order; ``in_loop``: what may block (a store
        read, the registry) is left to the supervisor. EOFError, OSError: the process is gone."""
        conn = slot.conn
        later = self._chore if in_loop else _now
        while conn.poll():
            kind, job_id, payload = conn.recv()
            if kind == "event":
                self.events.publish(job_id, payload)
            elif kind == "events":
                self.events.publish_many(payload)
            elif kind == "dispatch":
                # After the fan-out child's QUEUED event (published above, in the pipe's order).
                later(functools.partial(self._dispatch_child, job_id))
            elif kind == "ready":
                with self._lock:
                    slot.ready = True
                    self._dispatch_locked()
                if payload is not None:
                    later(functools.partial(self._register_once, payload))
            elif kind == "done":
                with self._lock:
                    slot.job = None
                    slot.deadline = None
                    self._dispatch_locked()

    def _dispatch_child(self, job_id: str) -> None:
        """Queue a fan-out child a process created (blocking: a store read)."""
        child = self.store.get(MAINTENANCE, job_id)
        if child is not None:
            self.send(child)

    def _register_once(self, capabilities: list[str]) -> None:
        if self._presence is None:
            self._register(capabilities)

    def _replace(self, slot: _Slot) -> None:
        """A child died: settle its job, then start a fresh child in its place."""
        slot.process.join(timeout=2)
        job, reason = slot.job, slot.kill_reason
        with self._lock:
            index = self._slots.index(slot)
            fresh = self._spawn() if not self._stopping.is_set() else slot
            self._slots[index] = fresh
        if fresh is not slot:
            self._watch_soon(fresh)
        slot.conn.close()
        if job is not None:
            # The killed child could not remove its job's scratch directory (a bundle being written,
            # say); it is dead now (joined above), so nothing writes there any more.
            remove_job_scratch(self.settings, job.job_id)
        if job is None or reason == "abort":
            return
        if reason == "timeout":
            # As the reconciler does it, children included: a fan-out parent's merge would never come.
            if not abort_overrun(job, self.store, self, self.events):
                log.info("timed-out job %s was already final", job.job_id)
            return
        current = self.store.get(MAINTENANCE, job.job_id)
        if current is None or current.phase not in (ExecutionPhase.QUEUED, ExecutionPhase.EXECUTING):
            return
        requeued = (
            self.store.requeue(MAINTENANCE, job.job_id, current.worker_id)
            if current.attempts < self.settings.max_attempts
            else None
        )
        if requeued is not None:
            log.warning("worker process died; job %s requeued", job.job_id)
            self.send(requeued)
        else:
            summary = ErrorSummary(ErrorType.FATAL, "the worker process running this job died")
            if self.store.fail(MAINTENANCE, job.job_id, summary):
                self.events.publish(job.job_id, phase_event(job, ExecutionPhase.ERROR))

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        with self._lock:
            for slot in self._slots:
                if slot.deadline is not None and slot.deadline <= now and slot.kill_reason is None:
                    slot.kill_reason = "timeout"
                    slot.process.kill()

    def _dispatch(self) -> None:
        with self._lock:
            self._dispatch_locked()

    def _dispatch_locked(self) -> None:
        """Hand pending jobs to idle processes (with the lock held). A process is sent a job only when
        idle, so its pipe holds one job id at most: the send never waits for the process to read."""
        for slot in self._slots:
            if not self._pending:
                return
            if slot.ready and slot.job is None and slot.process.is_alive():
                job = self._pending.popleft()
                slot.job = job
                slot.kill_reason = None
                slot.deadline = time.monotonic() + job.execution_duration if job.execution_duration > 0 else None
                try:
                    slot.conn.send(job.job_id)
                except OSError:
                    self._pending.appendleft(job)
                    slot.job = None
