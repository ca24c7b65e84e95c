"""A service places each job on a queue (``queue_for``), once, at creation; every later send uses it."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from spt_api.config import Settings
from spt_api.db import create_job_store
from spt_api.events import InProcessEventBus
from spt_api.job_service import JobService
from spt_api.queue.base import Dispatcher
from spt_api.queue.protocol import task_message
from spt_api.services import ParamsModel, ServiceRegistry, ServiceSpec
from spt_api.storage import create_object_store
from spt_api.uws.models import Job
from spt_api.uws.principal import ANONYMOUS


class ModelParams(ParamsModel):
    model: str = Field(title="Model name")
    gpu: bool = Field(False, title="Run on a GPU")


SPEC = ServiceSpec(
    name="infer",
    title="Inference",
    description="A service whose jobs go to a GPU queue when they ask for one.",
    params_model=ModelParams,
    run="nowhere:run",
    queue="infer-cpu",
    queue_for=lambda params: "infer-gpu" if params.gpu else "infer-cpu",
    other_queues=("infer-gpu",),
)


class RecordingDispatcher(Dispatcher):
    """The dispatcher port, recording what it is asked to send (no worker needed to see the placement)."""

    def __init__(self) -> None:
        self.sent: list[Job] = []

    def send(self, job: Job) -> str | None:
        self.sent.append(job)
        return job.task_id

    def abort(self, job: Job) -> None:
        return None


def test_every_queue_a_service_may_use_is_known() -> None:
    assert SPEC.queues == ("infer-cpu", "infer-gpu")
    assert ServiceRegistry([SPEC]).queues() == ["infer-cpu", "infer-gpu"]


async def test_the_queue_is_chosen_at_creation_and_stored(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    store = create_job_store(settings.effective_database_url)
    dispatcher = RecordingDispatcher()
    bus = InProcessEventBus()
    await bus.start()
    service = JobService(settings, store, dispatcher, bus, create_object_store(settings), ServiceRegistry([SPEC]))
    try:
        gpu = await service.create(ANONYMOUS, "infer", [("model", "big"), ("gpu", "true"), ("PHASE", "RUN")])
        cpu = await service.create(ANONYMOUS, "infer", [("model", "small")])
        assert (gpu.queue, cpu.queue) == ("infer-gpu", "infer-cpu")
        # Stored: a later run (and a requeue by the reconciler) sends it where creation put it.
        queued = await service.run(ANONYMOUS, await service.get(ANONYMOUS, "infer", cpu.job_id))
        assert [job.queue for job in dispatcher.sent] == ["infer-gpu", "infer-cpu"]
        assert store.get(ANONYMOUS, gpu.job_id).queue == "infer-gpu"  # type: ignore[union-attr]
        _, _, options = task_message(queued, queued.queue, "t-1")
        assert options["queue"] == "infer-cpu"
    finally:
        service.close()
