"""Parameters of the ``inference`` service and its declaration (light: imported by the API server)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PrivateAttr

from spt_api.services import InputFile, ParamsModel, ServiceSpec
from workers.services.inference.repository import CPU_QUEUE, GPU_QUEUE
from workers.services.inference.settings import InferenceSettings

__all__ = ["SERVICE", "InferenceParams"]

#: Largest batch a job may ask for (rows per onnxruntime call).
MAX_BATCH_SIZE = 1 << 20


class InferenceParams(ParamsModel):
    model: str = Field(title="The model's name in the model repository (see /api/models)", min_length=1,
                       max_length=255, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
    version: int | None = Field(None, title="The model's version; default: the highest", ge=1)
    input: InputFile = Field(
        title="An uploaded .npy (a single-input model) or .npz keyed by input name, or a storage URI of one",
    )
    batch_size: int | None = Field(
        None, title="Rows per onnxruntime call; default: the model's max batch size, or 256", ge=1,
        le=MAX_BATCH_SIZE,
    )
    output_format: Literal["npz", "npy", "parquet"] = Field(
        "npz", title="npz (one array per output), npy (a single output) or parquet (one column per output)"
    )

    #: Set by the submission check (check.py): what the model needs, and so where the job goes.
    _requirements: frozenset[str] | None = PrivateAttr(default=None)


def queue_for(params: InferenceParams) -> str:
    """The queue of the servers that can run the model: its requirements, found by the submission check."""
    requirements = params._requirements or frozenset()
    return GPU_QUEUE if "gpu" in requirements else CPU_QUEUE


def requirements(params: InferenceParams) -> frozenset[str]:
    return params._requirements or frozenset({"onnx"})


SERVICE = ServiceSpec(
    name="inference",
    title="ONNX inference",
    description=(
        "Runs an ONNX model of the model repository (Triton's layout) over a batch of inputs with "
        "onnxruntime, on a CPU or GPU worker server whose capabilities fit the model."
    ),
    params_model=InferenceParams,
    run="workers.services.inference.run:run",
    queue=CPU_QUEUE,
    queue_for=queue_for,
    other_queues=(GPU_QUEUE,),
    settings=InferenceSettings,
    extra="inference",
    check_inputs="workers.services.inference.check:check_inputs",
    requirements=requirements,
    cli="workers.services.inference.cli:register_cli",
    resources="workers.services.inference.resources:resources",
)
