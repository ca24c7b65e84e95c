"""DALI sync for every service: one request creates a job, the workers run it, and the same exchange answers.

The job is stored, listed and kept like any job; only its answer differs. One
result: its bytes (with its type and file name). Several: 303 to the results
list. An error: the DALI error document with the job's error summary. Still
running after ``SPT_API_SYNC_TIMEOUT`` seconds: 303 to the job, which runs on.
The API process runs no service code: a sync request waits as a WAIT does.
"""

from __future__ import annotations

from typing import Any

from spt_api.handlers.jobs import JobBaseHandler
from spt_api.sync_gate import SyncGate
from spt_api.uws.errors import BadRequestError, ServiceUnavailableError
from spt_api.uws.models import Job
from spt_api.uws.phases import ExecutionPhase

__all__ = ["SYNC_ROUTES", "ServiceSyncHandler"]


class ServiceSyncHandler(JobBaseHandler):
    def initialize(self, sync_gate: SyncGate, **common: Any) -> None:  # type: ignore[override]
        super().initialize(**common)
        self.sync_gate = sync_gate

    async def get(self, service: str) -> None:
        await self.answer(service)

    async def post(self, service: str) -> None:
        await self.answer(service)

    async def answer(self, service: str) -> None:
        self.jobs.service(service)  # 404 for an unknown service before anything else
        # PHASE is ours to set here: a sync job always runs at once.
        read = await self.read_params(binary=self.file_parameters(service))
        pairs = [(k, v) for k, v in read if k.lower() != "phase"] + [("PHASE", "RUN")]
        async with self.sync_gate.slot():
            job = await self.jobs.create(self.principal(), service, pairs, sync=True, uploads=self.uploads)
            job = await self.jobs.wait_final(self.principal(), service, job.job_id, self.settings_obj.sync_timeout)
        if job.phase == ExecutionPhase.COMPLETED:
            if len(job.results) == 1:
                result = job.results[0]
                await self.stream(result, result.key.rsplit("/", 1)[-1])
            else:
                self.see_other(f"{self.job_url(job)}/results")
        elif job.phase in (ExecutionPhase.ERROR, ExecutionPhase.ABORTED):
            raise _error_of(job)
        else:
            # Longer than the sync timeout: the job runs on; the client follows it like any job.
            self.see_other(self.job_url(job))


def _error_of(job: Job) -> Exception:
    """The HTTP error of a failed sync job: the user's fault is a 400, anything else a 503."""
    message = job.error.message if job.error else f"the job ended {job.phase.value}"
    # A usage error is recorded fatal and without a traceback (workers/tasks.py): the request was at fault.
    if job.phase == ExecutionPhase.ERROR and job.error is not None and job.error.detail is None:
        return BadRequestError(message)
    return ServiceUnavailableError(message)


SYNC_ROUTES: list[tuple[str, type[JobBaseHandler]]] = [(r"/(?P<service>[a-z0-9_-]+)/sync/?", ServiceSyncHandler)]
