"""The dispatcher interface: hand a QUEUED job to a worker, stop a running one."""

from __future__ import annotations

from abc import ABC, abstractmethod

from spt_api.uws.models import Job
from spt_api.uws.task_ids import job_id_of_task, new_task_id

__all__ = ["Dispatcher", "job_id_of_task", "new_task_id"]


class Dispatcher(ABC):
    #: Whether :meth:`send` may wait (on a broker, over the network): then it is called from a thread.
    send_blocks = True

    @abstractmethod
    def send(self, job: Job) -> str | None:
        """Queue ``job`` (already QUEUED in the store, with its ``task_id``) for execution.

        Blocking unless :attr:`send_blocks` says otherwise: call it from a thread. Returns the task id
        used, if any.
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
