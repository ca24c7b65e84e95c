"""The shape of job events, in one place: every publisher (API, reconciler, workers) builds them here."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from spt_api.uws.models import ErrorSummary, ErrorType, Job, JobResult
from spt_api.uws.phases import ExecutionPhase

__all__ = ["apply_run_state", "deleted_event", "phase_event", "progress_event", "run_state"]

P = ExecutionPhase
#: The phases a job's run state may move its cached copy to, from each phase a worker sees it in.
_FORWARD = {
    P.QUEUED: frozenset({P.EXECUTING, P.COMPLETED, P.ERROR, P.ABORTED}),
    P.EXECUTING: frozenset({P.COMPLETED, P.ERROR, P.ABORTED}),
}


def phase_event(
    job: Job, phase: ExecutionPhase | None = None, duration: float | None = None, *, with_state: bool = False
) -> dict[str, Any]:
    """The job reached ``phase`` (its current phase by default); ``duration`` feeds spt_job_duration_seconds.

    ``with_state``: the event carries the job's run state (:func:`run_state`), so an API that holds the
    job in its cache can update it rather than read the database again.
    """
    event: dict[str, Any] = {
        "type": "phase",
        "phase": (phase or job.phase).value,
        "job_id": job.job_id,
        "service": job.service,
        "owner": job.owner,
    }
    if duration is not None:
        event["duration"] = round(duration, 6)
    if with_state:
        event["state"] = run_state(job)
    return event


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def run_state(job: Job) -> dict[str, Any]:
    """What a worker changes in a job as it runs it; everything else only the API changes."""
    return {
        "phase": job.phase.value,
        "start_time": _time(job.start_time),
        "end_time": _time(job.end_time),
        "attempts": job.attempts,
        "worker_id": job.worker_id,
        "results": [[r.result_id, r.key, r.mime_type, r.size] for r in job.results],
        "error": [job.error.error_type.value, job.error.message, job.error.detail] if job.error else None,
    }


def apply_run_state(job: Job, state: dict[str, Any]) -> Job | None:
    """``job`` moved to ``state``; None when that is no step forward from the job's phase (a late event)."""
    phase = ExecutionPhase(state["phase"])
    if phase not in _FORWARD.get(job.phase, ()):
        return None
    error = state["error"]
    return dataclasses.replace(
        job,
        phase=phase,
        start_time=datetime.fromisoformat(state["start_time"]) if state["start_time"] else None,
        end_time=datetime.fromisoformat(state["end_time"]) if state["end_time"] else None,
        attempts=state["attempts"],
        worker_id=state["worker_id"],
        results=tuple(JobResult(*r) for r in state["results"]),
        error=ErrorSummary(ErrorType(error[0]), error[1], error[2]) if error else None,
    )


def progress_event(job: Job, done: int, total: int, message: str = "") -> dict[str, Any]:
    return {"type": "progress", "phase": ExecutionPhase.EXECUTING.value, "owner": job.owner, "done": done,
            "total": total, "message": message}


def deleted_event(job: Job) -> dict[str, Any]:
    return {"type": "deleted", "phase": None, "owner": job.owner}
