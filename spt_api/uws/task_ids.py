"""Task ids: one per dispatch of a job, and the job id read back from one."""

from __future__ import annotations

import uuid

__all__ = ["job_id_of_task", "new_task_id"]


def new_task_id(job_id: str) -> str:
    """A fresh id per dispatch: a revoked id must never block a later run of the same job."""
    return f"{job_id}-{uuid.uuid4().hex[:8]}"


def job_id_of_task(task_id: str) -> str | None:
    """The job id in a task id made by :func:`new_task_id` (None for other task ids)."""
    job_id, sep, suffix = task_id.rpartition("-")
    return job_id if sep and job_id and len(suffix) == 8 else None
