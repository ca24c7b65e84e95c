"""The dispatcher interface: hand a QUEUED job to a worker, stop a running one."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod

from spt_api.uws.models import Job

__all__ = ["Dispatcher", "job_id_of_task", "new_task_id"]


def new_task_id(job_id: str) -> str:
    """A fresh id per dispatch: a revoked id must never block a later run of the same job."""
    return f"{job_id}-{uuid.uuid4().hex[:8]}"


def job_id_of_task(task_id: str) -> str | None:
    """The job id in a task id made by :func:`new_task_id` (None for other task ids)."""
    job_id, sep, suffix = task_id.rpartition("-")
    return job_id if sep and job_id and len(suffix) == 8 else None


class Dispatcher(ABC):
    @abstractmethod
    def send(self, job: Job) -> str | None:
        """Queue ``job`` (already QUEUED in the store, with its ``task_id``) for execution.

        Blocking: call it from a thread. Returns the task id used, if any.
        """

    @abstractmethod
    def abort(self, job: Job) -> None:
        """Stop the job's execution if it is running (its phase is already ABORTED)."""

    def start(self) -> None:
        """Start background machinery (process pool)."""

    def stop(self) -> None: ...

    def check(self) -> None:
        """Raise if jobs cannot be dispatched now (readiness)."""

    def queue_depths(self) -> dict[str, int]:
        return {}
