"""What an API process does at start for the jobs a killed predecessor left behind.

Without it those jobs wait for the reconciler: a QUEUED job stored but never sent for the
queued timeout (twice ``SPT_API_HEARTBEAT_TIMEOUT``), an EXECUTING job of the embedded pool for the
heartbeat timeout, although the pool that ran it died with the old process.

- **Embedded mode** (one API process owns the only pool; ``settings.is_embedded_queue``): nothing can
  still be running, and the pool's queue lived in the dead process's memory. Every EXECUTING job is
  requeued (the store's conditional requeue, bounded by ``max_attempts`` as the reconciler's is), the
  orphaned scratch directories are removed, and every QUEUED job is sent, oldest first.
- **Celery**: workers are other processes, maybe alive, and the broker still holds the messages that
  did leave; EXECUTING jobs stay the reconciler's. A QUEUED job whose message never left (the process
  died between the INSERT and the send, e.g. mid-flood) is sent again; see :func:`resend_unsent`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from spt_api.config import Settings
from spt_api.db import JobStore
from spt_api.events import EventPublisher
from spt_api.maintenance import MAINTENANCE, MaintenanceReport, queue_depths, rescue
from spt_api.queue import Dispatcher
from spt_api.scratch import sweep_orphans
from spt_api.uws.models import utcnow
from spt_api.uws.phases import ExecutionPhase

__all__ = ["recover_at_start", "resend_unsent"]

log = logging.getLogger(__name__)


def recover_at_start(
    settings: Settings,
    store: JobStore,
    dispatcher: Dispatcher,
    events: EventPublisher,
    started: datetime | None = None,
) -> MaintenanceReport:
    """Put back to work the jobs a dead predecessor left; ``started``: when this process started."""
    started = started or utcnow()
    if settings.is_embedded_queue:
        report = _recover_embedded_pool(settings, store, dispatcher, events)
    else:
        report = resend_unsent(settings, store, dispatcher, started)
        report.swept = sweep_orphans(settings, store)
    if report.requeued or report.failed or report.resent or report.swept:
        log.warning(
            "at start: %d jobs requeued, %d failed, %d sent again, %d scratch directories removed",
            len(report.requeued), len(report.failed), len(report.resent), len(report.swept),
        )
    return report


def _recover_embedded_pool(
    settings: Settings, store: JobStore, dispatcher: Dispatcher, events: EventPublisher
) -> MaintenanceReport:
    report = MaintenanceReport()
    for job in store.in_phase(MAINTENANCE, ExecutionPhase.EXECUTING):
        # A parent waiting on its children runs nowhere: its children are requeued, and the last to
        # end merges. A parent whose merge had started (pending_children 0) is requeued to merge again.
        if job.pending_children:
            continue
        rescue(settings, store, None, events, job, report)
    # Nothing runs yet: a directory of a job that is not EXECUTING now is an orphan, however young.
    report.swept = sweep_orphans(settings, store, grace=0)
    for job in store.in_phase(MAINTENANCE, ExecutionPhase.QUEUED):
        dispatcher.send(job)
        report.resent.append(job.job_id)
    for parent in store.unmerged_parents(MAINTENANCE):
        # Every child ended, but the merge never started: requeued, it merges them.
        rescue(settings, store, dispatcher, events, parent, report)
    return report


def resend_unsent(
    settings: Settings, store: JobStore, dispatcher: Dispatcher, started: datetime
) -> MaintenanceReport:
    """Send again the QUEUED jobs queued before this process ``started``, back to the queued timeout.

    Why this window. A resend is harmless: a worker's claim is a conditional update, so the second
    delivery of a job is a no-op. But resending a whole backlog at every start (a rolling update
    restarts every replica) would double it each time, so only jobs young enough to be the victims of
    a crash are sent: queued at most the reconciler's queued timeout ago (older ones are the
    reconciler's, which resends a job only once its queue is empty, i.e. its message is surely
    lost). The window ends at this process's start, not a few seconds before it: the jobs a crash
    leaves unsent are those of its last moments, and another replica sending a job at that very
    instant costs one no-op duplicate at most. Jobs queued after the start are this process's own
    or a live replica's, which send them themselves.

    And only for a queue that holds fewer messages than it has QUEUED jobs: when every QUEUED job
    can have its message waiting there (the usual rolling update over a backlog), none is sent again.
    When the depths cannot be read, the window's jobs are sent.
    """
    report = MaintenanceReport()
    queued_timeout = timedelta(seconds=settings.heartbeat_timeout * 2)
    candidates = store.in_phase(
        MAINTENANCE, ExecutionPhase.QUEUED, queued_after=started - queued_timeout, queued_before=started
    )
    if not candidates:
        return report
    depths = queue_depths(dispatcher)
    queued = store.queued_by_queue(MAINTENANCE) if depths else {}
    for job in candidates:
        if depths and depths.get(job.queue, 0) >= queued.get(job.queue, 0):
            continue  # as many messages wait as jobs: none need be missing
        try:
            dispatcher.send(job)
        except Exception as exc:  # the broker is down: the reconciler sends them when it is back
            log.warning("QUEUED jobs not sent again at start: %s", exc)
            break
        report.resent.append(job.job_id)
    return report
