"""DALI sync for services that declare one (``ServiceSpec.sync``): one request, one file in the answer.

The service's code runs in the sync executor's processes, never on the event
loop or the job-store threads; a job error becomes the matching HTTP error.
"""

from __future__ import annotations

from typing import Any

from spt_api.handlers.base import BaseHandler, content_disposition, text_charset
from spt_api.services import FatalJobError, TransientJobError
from spt_api.sync_executor import SyncExecutor
from spt_api.uws.errors import ServiceUnavailableError

__all__ = ["ServiceSyncHandler"]


class ServiceSyncHandler(BaseHandler):
    def initialize(self, service: str, sync: SyncExecutor, **common: Any) -> None:  # type: ignore[override]
        super().initialize(**common)
        self.service_name = service
        self.sync = sync

    async def get(self) -> None:
        await self.answer()

    async def post(self) -> None:
        await self.answer()

    async def answer(self) -> None:
        spec = self.jobs.service(self.service_name)
        params = spec.params_model.from_uws(self.params())
        try:
            result = await self.sync.run(spec, params)
        except (FatalJobError, TransientJobError) as exc:
            # Configuration or data (a missing catalogue, a changed map): not the request's fault.
            raise ServiceUnavailableError(str(exc)) from exc
        self.set_header("Content-Type", text_charset(result.mime_type))
        self.set_header("Content-Disposition", content_disposition(result.filename, result.mime_type))
        self.finish(result.data)
