"""SODA sync for the cutout service: one position, one band, the FITS (or PNG) in the response.

Why in the API process: a sync request must answer in the same HTTP exchange;
the cut runs in the thread pool (astropy is imported there, on first use), so
the event loop never waits on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spt_api.handlers.base import BaseHandler
from spt_api.uws.errors import NotFoundError

if TYPE_CHECKING:
    from workers.services.cutout.run import SyncCutout

__all__ = ["SYNC_ROUTES"]


class CutoutSyncHandler(BaseHandler):
    async def get(self) -> None:
        await self.cut()

    async def post(self) -> None:
        await self.cut()

    async def cut(self) -> None:
        spec = self.jobs.services.get("cutout")
        if spec is None:
            raise NotFoundError("the cutout service is not enabled")
        params = spec.params_model.from_uws(self.params())

        def cut_one() -> SyncCutout:
            from workers.services.cutout.params import CutoutParams
            from workers.services.cutout.run import cut_one as run_cut
            from workers.services.cutout.run import maps_directory

            assert isinstance(params, CutoutParams)
            return run_cut(params, maps_dir=maps_directory(self.settings_obj))

        result = await self.jobs.call(cut_one)
        self.set_header("Content-Type", result.mime_type)
        self.set_header("Content-Disposition", f'inline; filename="{result.filename}"')
        self.finish(result.data)


SYNC_ROUTES: list[tuple[str, type[BaseHandler]]] = [(r"/cutout/sync/?", CutoutSyncHandler)]
