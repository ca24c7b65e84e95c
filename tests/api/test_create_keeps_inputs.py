"""A job stored with its uploads keeps them, whatever fails after the INSERT; a failed INSERT removes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

from spt_api.config import Settings
from spt_api.db import create_job_store
from spt_api.events import InProcessEventBus
from spt_api.job_inputs import Upload
from spt_api.job_service import JobService
from spt_api.services import InputFile, ParamsModel, ServiceRegistry, ServiceSpec
from spt_api.storage import create_object_store
from spt_api.uws.principal import ANONYMOUS
from tests.api.test_placement import RecordingDispatcher


class BlobParams(ParamsModel):
    blob: InputFile = Field(title="A file")


SPEC = ServiceSpec(
    name="blob",
    title="Blob",
    description="One uploaded file.",
    params_model=BlobParams,
    run="nowhere:run",
    queue="blob",
)


async def _service(tmp_path: Path) -> JobService:
    settings = Settings(data_dir=tmp_path)
    bus = InProcessEventBus()
    await bus.start()
    store = create_job_store(settings.effective_database_url)
    objects = create_object_store(settings)
    return JobService(settings, store, RecordingDispatcher(), bus, objects, ServiceRegistry([SPEC]))


async def test_a_failure_after_the_insert_leaves_the_stored_jobs_inputs(tmp_path: Path, monkeypatch: Any) -> None:
    service = await _service(tmp_path)

    def broken(*args: Any) -> Any:
        raise RuntimeError("placement failed")

    monkeypatch.setattr(service, "_placed", broken)
    try:
        with pytest.raises(RuntimeError):
            await service.create(ANONYMOUS, "blob", [("PHASE", "RUN")], uploads=[Upload("blob", "a.bin", b"abc")])
        (job,) = service.store.list_refs(ANONYMOUS)  # type: ignore[attr-defined]
        stored = service.store.get(ANONYMOUS, job.job_id)
        assert stored is not None
        key = dict(stored.parameters)["blob"]
        assert service.objects.read_head(key, 10) == b"abc"
    finally:
        service.close()


async def test_a_failed_insert_removes_the_uploads(tmp_path: Path, monkeypatch: Any) -> None:
    service = await _service(tmp_path)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("insert failed")

    monkeypatch.setattr(service.store, "create", broken)
    try:
        with pytest.raises(RuntimeError):
            await service.create(ANONYMOUS, "blob", [], uploads=[Upload("blob", "a.bin", b"abc")])
        assert service.store.list_refs(ANONYMOUS) == []  # type: ignore[attr-defined]
        assert not service.objects.list_keys("inputs")
    finally:
        service.close()
