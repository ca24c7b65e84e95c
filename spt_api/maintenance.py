"""Keeping every job moving: the reconciler and the destruction cleanup.

The reconciler finds EXECUTING jobs whose worker stopped heartbeating and
QUEUED jobs whose message seems lost, and requeues them (bounded by
``max_attempts``) or ends them in ERROR. It also aborts jobs that ran past
their executionDuration when the hard limit did not. Cleanup deletes jobs past
their destruction time with their stored results (UWS §2.1.5). Both are safe
to run from several processes at once: every change is a conditional update.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from spt_api.config import Settings
from spt_api.db import JobStore
from spt_api.events import EventPublisher
from spt_api.events.messages import deleted_event, phase_event
from spt_api.queue import Dispatcher
from spt_api.queue.base import new_task_id
from spt_api.scratch import sweep_orphans
from spt_api.services.inputs import INPUTS_PREFIX
from spt_api.storage import ObjectStore
from spt_api.uws.errors import overrun_message
from spt_api.uws.models import ErrorSummary, ErrorType, Job, utcnow
from spt_api.uws.phases import ExecutionPhase
from spt_api.uws.principal import Principal

__all__ = [
    "MAINTENANCE",
    "MaintenanceReport",
    "abort_overrun",
    "cleanup_expired",
    "destroy",
    "queue_depths",
    "reconcile",
    "rescue",
]

log = logging.getLogger(__name__)

#: The reconciler and the cleanup act for the system: they see every user's jobs.
MAINTENANCE = Principal.system_actor("maintenance")

#: Seconds past executionDuration after which the reconciler aborts a job itself (the worker's
#: own limits should have fired first; this catches a worker that died holding it).
OVERRUN_GRACE = 30


@dataclass
class MaintenanceReport:
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    aborted: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    #: Scratch directories removed (their job ids).
    swept: list[str] = field(default_factory=list)
    #: QUEUED jobs sent again at start (their message may never have left).
    resent: list[str] = field(default_factory=list)


def _publish(events: EventPublisher, job: Job, phase: ExecutionPhase) -> None:
    events.publish(job.job_id, phase_event(job, phase))


def queue_depths(dispatcher: Dispatcher) -> dict[str, int]:
    """The broker's queue depths; empty when they cannot be read."""
    try:
        return dispatcher.queue_depths()
    except Exception as exc:  # the broker is down: sending would fail as well, and is retried later
        log.warning("queue depths unknown: %s", exc)
        return {}


def reconcile(
    settings: Settings,
    store: JobStore,
    dispatcher: Dispatcher,
    events: EventPublisher,
    now: datetime | None = None,
) -> MaintenanceReport:
    now = now or utcnow()
    report = MaintenanceReport()
    heartbeat_timeout = timedelta(seconds=settings.heartbeat_timeout)

    def overran(job: Job, grace: float) -> bool:
        return bool(
            job.start_time
            and job.execution_duration > 0
            and now - job.start_time > timedelta(seconds=job.execution_duration + grace)
        )

    # A job still heartbeating long after its hard limit: the worker's limits failed; stop it here.
    for job in store.executing_since(MAINTENANCE, now - timedelta(seconds=OVERRUN_GRACE)):
        if overran(job, OVERRUN_GRACE) and abort_overrun(job, store, dispatcher, events):
            report.aborted.append(job.job_id)
    depths: dict[str, int] | None = None
    for job in store.stale(MAINTENANCE, now, heartbeat_timeout, queued_timeout=heartbeat_timeout * 2):
        if job.phase == ExecutionPhase.QUEUED:
            # A job waiting in a backlog has its message in the queue still: resending it would
            # grow the backlog at every pass. Only a queue that is empty has lost the message.
            if depths is None:
                depths = queue_depths(dispatcher)
            waiting = depths.get(job.queue, 0)
            if waiting:
                log.debug("job %s waits behind %d messages; not resent", job.job_id, waiting)
                continue
        if job.phase == ExecutionPhase.EXECUTING and overran(job, 0):
            # Silent and past its executionDuration: the hard time limit killed it. Running it
            # again would only overrun again.
            if abort_overrun(job, store, dispatcher, events):
                report.aborted.append(job.job_id)
            continue
        rescue(settings, store, dispatcher, events, job, report)
    for parent in store.unmerged_parents(MAINTENANCE):
        # Run the merge in a worker: the requeued parent sees its children and merges them.
        if _requeue(parent, store, dispatcher, events):
            report.requeued.append(parent.job_id)
    return report


def abort_overrun(job: Job, store: JobStore, dispatcher: Dispatcher, events: EventPublisher) -> bool:
    """ABORTED with an error summary naming the limit (UWS §2.1.4), and its fan-out children with it;
    False when it had ended meanwhile."""
    try:
        summary = ErrorSummary(ErrorType.FATAL, overrun_message(job.execution_duration))
        aborted = store.abort(MAINTENANCE, job.job_id, summary)
    except Exception:
        return False  # it ended meanwhile
    dispatcher.abort(aborted)
    _publish(events, job, ExecutionPhase.ABORTED)
    for child in store.abort_children(MAINTENANCE, job.job_id):
        dispatcher.abort(child)
        _publish(events, child, ExecutionPhase.ABORTED)
    return True


def rescue(
    settings: Settings,
    store: JobStore,
    dispatcher: Dispatcher | None,
    events: EventPublisher,
    job: Job,
    report: MaintenanceReport,
) -> None:
    """Requeue a job whose worker vanished (and send it, unless ``dispatcher`` is None: the caller
    sends it later), or fail it once it has been started ``max_attempts`` times."""
    if job.attempts >= settings.max_attempts:
        summary = ErrorSummary(
            ErrorType.FATAL,
            f"the job was started {job.attempts} times and its worker vanished each time; giving up",
        )
        if store.fail(MAINTENANCE, job.job_id, summary, from_phases=[job.phase]):
            _publish(events, job, ExecutionPhase.ERROR)
            report.failed.append(job.job_id)
        return
    if _requeue(job, store, dispatcher, events):
        log.warning("job %s requeued (attempt %d)", job.job_id, job.attempts + 1, extra={"job_id": job.job_id})
        report.requeued.append(job.job_id)


def _requeue(job: Job, store: JobStore, dispatcher: Dispatcher | None, events: EventPublisher) -> bool:
    requeued = store.requeue(MAINTENANCE, job.job_id, job.worker_id, new_task_id(job.job_id))
    if requeued is None:
        return False
    try:
        if dispatcher is not None:
            dispatcher.send(requeued)
    except Exception as exc:
        log.warning("requeue of %s not sent (will retry): %s", job.job_id, exc)
        return False
    _publish(events, job, ExecutionPhase.QUEUED)
    return True


def cleanup_expired(
    store: JobStore,
    objects: ObjectStore,
    dispatcher: Dispatcher,
    events: EventPublisher,
    now: datetime | None = None,
    *,
    settings: Settings | None = None,
) -> MaintenanceReport:
    """Destroy jobs past their destruction time: abort if running, delete results, forget the job.

    A fan-out child goes with its parent, at the parent's destruction time (which a client may change).
    With ``settings``, also remove the scratch directories no running job owns (a killed job's).
    """
    report = MaintenanceReport()
    if settings is not None:
        report.swept = sweep_orphans(settings, store)
    for job in store.expired(MAINTENANCE, now or utcnow()):
        if job.phase in (ExecutionPhase.QUEUED, ExecutionPhase.EXECUTING):
            try:
                dispatcher.abort(store.abort(MAINTENANCE, job.job_id))
            except Exception:
                pass
            for child in store.abort_children(MAINTENANCE, job.job_id):
                dispatcher.abort(child)
        if destroy(MAINTENANCE, store, objects, job) is not None:
            events.publish(job.job_id, deleted_event(job))
            report.deleted.append(job.job_id)
    return report


def destroy(principal: Principal, store: JobStore, objects: ObjectStore, job: Job) -> Job | None:
    """Delete a job's stored objects and its row, its fan-out children's first: the job's results may
    be theirs (a merge adopts them). Objects go before rows, so a storage outage leaves the job in
    place to destroy again rather than orphaned objects nothing would find. The deleted job, or None."""
    for child in store.children(principal, job.job_id):
        objects.delete_prefix(f"{child.service}/{child.job_id}")
        store.delete(principal, child.job_id)
    objects.delete_prefix(f"{job.service}/{job.job_id}")
    if any(value.startswith(f"{INPUTS_PREFIX}/{job.job_id}/") for _, value in job.parameters):
        objects.delete_prefix(f"{INPUTS_PREFIX}/{job.job_id}")  # its uploads (spt_api.job_inputs)
    return store.delete(principal, job.job_id)
