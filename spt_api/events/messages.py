"""The job event, typed: every publisher (API, reconciler, workers) builds it here, and WAIT, the Redis
bus, the metrics and the WebSocket read it. Its JSON is the wire format between processes."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from spt_api.uws.models import ErrorSummary, ErrorType, Job, JobResult, decode_inline, encode_inline
from spt_api.uws.phases import ExecutionPhase

__all__ = [
    "JobEvent",
    "RunState",
    "apply_run_state",
    "deleted_event",
    "phase_event",
    "progress_event",
    "run_state",
]

P = ExecutionPhase
#: The phases a job's run state may move its cached copy to, from each phase a worker sees it in.
_FORWARD = {
    P.QUEUED: frozenset({P.EXECUTING, P.COMPLETED, P.ERROR, P.ABORTED}),
    P.EXECUTING: frozenset({P.COMPLETED, P.ERROR, P.ABORTED}),
}

# Events from a newer version may carry fields this one does not know: they are ignored, not refused.
_EVENT_CONFIG = ConfigDict(frozen=True, extra="ignore")


class RunState(BaseModel):
    """What a worker changes in a job as it runs it; everything else only the API changes."""

    model_config = _EVENT_CONFIG

    phase: str
    start_time: datetime | None = None
    end_time: datetime | None = None
    attempts: int = 0
    worker_id: str | None = None
    #: ``[result_id, key, mime_type, size, data]`` per result: ``data``, an inline result's bytes in base64
    #: (see :class:`~spt_api.uws.models.JobResult`), is absent from the events of earlier versions.
    results: list[tuple[str, str, str | None, int | None] | tuple[str, str, str | None, int | None, str | None]] = []
    #: ``[type, message, detail]``, or None.
    error: tuple[str, str, str | None] | None = None


class JobEvent(BaseModel):
    """A change of one job: its phase (``phase``), its progress (``progress``) or its deletion (``deleted``)."""

    model_config = _EVENT_CONFIG

    type: Literal["phase", "progress", "deleted"]
    phase: str | None = None
    job_id: str | None = None
    service: str | None = None
    #: The job's owner: a subscription delivers the event only to who may see the job.
    owner: str | None = None
    #: Seconds the run took, on the event that ends it (feeds spt_job_duration_seconds).
    duration: float | None = None
    #: The job's run state, so an API holding the job in its cache can move it forward without a read.
    state: RunState | None = None
    done: int | None = None
    total: int | None = None
    message: str | None = None
    #: The API process that made the change (it has already updated its own cache).
    origin: str | None = None

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> JobEvent:
        return cls.model_validate_json(data)


def phase_event(
    job: Job, phase: ExecutionPhase | None = None, duration: float | None = None, *, with_state: bool = False
) -> JobEvent:
    """The job reached ``phase`` (its current phase by default); ``duration`` feeds spt_job_duration_seconds.

    ``with_state``: the event carries the job's run state (:func:`run_state`), so an API that holds the
    job in its cache can update it rather than read the database again.
    """
    return JobEvent(
        type="phase",
        phase=(phase or job.phase).value,
        job_id=job.job_id,
        service=job.service,
        owner=job.owner,
        duration=round(duration, 6) if duration is not None else None,
        state=run_state(job) if with_state else None,
    )


def run_state(job: Job) -> RunState:
    return RunState(
        phase=job.phase.value,
        start_time=job.start_time,
        end_time=job.end_time,
        attempts=job.attempts,
        worker_id=job.worker_id,
        results=[
            (r.result_id, r.key, r.mime_type, r.size, encode_inline(r.data) if r.data is not None else None)
            for r in job.results
        ],
        error=(job.error.error_type.value, job.error.message, job.error.detail) if job.error else None,
    )


def apply_run_state(job: Job, state: RunState) -> Job | None:
    """``job`` moved to ``state``; None when that is no step forward from the job's phase (a late event)."""
    phase = ExecutionPhase(state.phase)
    if phase not in _FORWARD.get(job.phase, ()):
        return None
    error = state.error
    return dataclasses.replace(
        job,
        phase=phase,
        start_time=state.start_time,
        end_time=state.end_time,
        attempts=state.attempts,
        worker_id=state.worker_id,
        results=tuple(
            JobResult(r[0], r[1], r[2], r[3], decode_inline(r[4]) if len(r) > 4 else None)
            for r in state.results
        ),
        error=ErrorSummary(ErrorType(error[0]), error[1], error[2]) if error else None,
    )


def progress_event(job: Job, done: int, total: int, message: str = "") -> JobEvent:
    return JobEvent(
        type="progress", phase=ExecutionPhase.EXECUTING.value, job_id=job.job_id, service=job.service,
        owner=job.owner, done=done, total=total, message=message,
    )


def deleted_event(job: Job) -> JobEvent:
    return JobEvent(type="deleted", job_id=job.job_id, service=job.service, owner=job.owner)
