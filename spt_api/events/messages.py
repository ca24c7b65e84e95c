"""The shape of job events, in one place: every publisher (API, reconciler, workers) builds them here."""

from __future__ import annotations

from typing import Any

from spt_api.uws.models import Job
from spt_api.uws.phases import ExecutionPhase

__all__ = ["deleted_event", "phase_event", "progress_event"]


def phase_event(job: Job, phase: ExecutionPhase | None = None, duration: float | None = None) -> dict[str, Any]:
    """The job reached ``phase`` (its current phase by default); ``duration`` feeds spt_job_duration_seconds."""
    event: dict[str, Any] = {
        "type": "phase",
        "phase": (phase or job.phase).value,
        "job_id": job.job_id,
        "service": job.service,
    }
    if duration is not None:
        event["duration"] = round(duration, 6)
    return event


def progress_event(done: int, total: int, message: str = "") -> dict[str, Any]:
    return {"type": "progress", "phase": ExecutionPhase.EXECUTING.value, "done": done, "total": total,
            "message": message}


def deleted_event() -> dict[str, Any]:
    return {"type": "deleted", "phase": None}
