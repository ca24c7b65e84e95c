"""The ``filecopy`` test service's declaration: one uploaded file, checked as .npy when it says so."""

from __future__ import annotations

from pydantic import Field

from spt_api.services import InputFile, InputReader, ParamsModel, ServiceSpec, UsageError
from spt_api.services.npy import NpyFormatError, npy_header


class FileCopyParams(ParamsModel):
    blob: InputFile = Field(title="The file copied back")
    npy: bool = Field(False, title="Check that the file is a .npy array")


def check_inputs(params: FileCopyParams, inputs: InputReader) -> None:
    if not params.npy:
        return
    try:
        with inputs.open(params.blob) as handle:
            npy_header(handle)
    except NpyFormatError as exc:
        raise UsageError(f"parameter 'blob': {exc}", parameter="blob") from None


SERVICE = ServiceSpec(
    name="filecopy",
    title="File copy",
    description="Copies its uploaded file back (a test of binary inputs).",
    params_model=FileCopyParams,
    run="filecopy_service.run:run",
    queue="filecopy",
    check_inputs="filecopy_service.params:check_inputs",
)
