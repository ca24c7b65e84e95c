"""The submission check of an inference job, in the API process: model, version, and the input's headers.

Only the ``.npy``/``.npz`` headers are read (pure Python, spt_api.services.npy): a 400 naming the
parameter for an unknown model or version, a missing input, a wrong dtype, a wrong rank or a fixed
dimension that differs. It records the model's requirements on the parameters, for placement.
"""

from __future__ import annotations

from spt_api.services import InputReader, UsageError
from spt_api.services.npy import NPY_MAGIC, NPZ_MAGIC, NpyFormatError, NpyHeader, npy_header, npz_headers
from workers.services.inference.params import InferenceParams
from workers.services.inference.repository import ModelInfo, ModelRepository
from workers.services.inference.settings import InferenceSettings, models_url

__all__ = ["check_against", "check_inputs", "read_headers"]


def _usage(message: str, parameter: str = "input") -> UsageError:
    return UsageError(f"parameter {parameter!r}: {message}", parameter=parameter)


def read_headers(inputs: InputReader, ref: str) -> tuple[str, dict[str, NpyHeader]]:
    """``("npy", {"": header})`` or ``("npz", {name: header})`` of the input file ``ref``.

    The file is opened once (on S3 each open is a request): its magic read, then its headers from the start
    (the handle is seekable; a .npy's size comes from it)."""
    with inputs.open(ref) as handle:
        magic = handle.read(8)
        handle.seek(0)
        try:
            if magic.startswith(NPY_MAGIC):
                return "npy", {"": npy_header(handle)}
            if magic.startswith(NPZ_MAGIC):
                return "npz", npz_headers(handle)
        except NpyFormatError as exc:
            raise _usage(str(exc)) from None
    raise _usage("the input is neither a .npy nor a .npz file")


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join("?" if d == -1 else str(d) for d in shape) + "]"


def check_against(info: ModelInfo, kind: str, headers: dict[str, NpyHeader], batch_size: int | None) -> None:
    """Refuse an input that does not fit the model's signature (400 naming the parameter)."""
    names = [t.name for t in info.inputs]
    listed = ", ".join(names)
    if kind == "npy":
        if len(info.inputs) != 1:
            raise _usage(f"model {info.name!r} has {len(names)} inputs ({listed}): send an .npz keyed by input name")
        headers = {names[0]: headers[""]}
    else:
        missing = [n for n in names if n not in headers]
        if missing:
            raise _usage(f"the .npz has no array {missing[0]!r} (model {info.name!r} takes {listed})")
        unknown = sorted(set(headers) - set(names))
        if unknown:
            raise _usage(f"the .npz array {unknown[0]!r} is no input of model {info.name!r} (it takes {listed})")
    rows: set[int] = set()
    for spec in info.inputs:
        header = headers[spec.name]
        if header.dtype != spec.dtype:
            raise _usage(f"input {spec.name!r} is {header.dtype}; model {info.name!r} takes {spec.dtype}")
        if len(header.shape) != len(spec.shape):
            raise _usage(
                f"input {spec.name!r} has shape {list(header.shape)} (rank {len(header.shape)}); model "
                f"{info.name!r} takes rank {len(spec.shape)}: {_shape(spec.shape)}"
            )
        for axis, (got, want) in enumerate(zip(header.shape, spec.shape, strict=True)):
            if want != -1 and got != want:
                raise _usage(
                    f"input {spec.name!r} has {got} in dimension {axis}; model {info.name!r} takes "
                    f"{_shape(spec.shape)}"
                )
        if info.batched:
            rows.add(header.shape[0])
    if len(rows) > 1:
        raise _usage(f"the inputs have different numbers of rows ({sorted(rows)})")
    if batch_size is not None and info.max_batch_size and batch_size > info.max_batch_size:
        raise UsageError(
            f"parameter 'batch_size': {batch_size} is above the max_batch_size of model {info.name!r}, "
            f"{info.max_batch_size}",
            parameter="batch_size",
        )


def resolve_model(
    params: InferenceParams,
    settings: object,
    inference: InferenceSettings | None,
    repository: ModelRepository | None = None,
) -> ModelInfo:
    """The model version the job runs, or a 400 naming ``model`` or ``version``; looked up in ``repository``
    when the caller has one (a repository on S3 makes an S3 client, a few milliseconds), else the configured one."""
    if repository is None:
        repository = ModelRepository(models_url(settings, inference), settings)
    info = repository.model(params.model, params.version)
    if info.problem is not None:
        raise UsageError(f"model {info.name!r} cannot be served: {info.problem}", parameter="model")
    return info


def check_inputs(params: InferenceParams, inputs: InputReader) -> None:
    info = resolve_model(params, inputs.settings, inputs.service_settings)
    kind, headers = read_headers(inputs, params.input)
    check_against(info, kind, headers, params.batch_size)
    if params.output_format == "npy" and len(info.outputs) != 1:
        raise UsageError(
            f"parameter 'output_format': npy holds one array, and model {info.name!r} has "
            f"{len(info.outputs)} outputs; use npz or parquet",
            parameter="output_format",
        )
    params._requirements = info.requirements
