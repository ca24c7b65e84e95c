"""An inference job: the model's session from the process's cache, the input streamed in batches.

The input is memory-mapped (an ``.npz`` is first unpacked into the job's scratch directory), so an
input larger than memory is read one batch at a time; outputs are written into memory-mapped
``.npy`` files as the batches come, then packed as the result (``output.npz``, ``output.npy`` or
``output.parquet``). Progress is reported per batch ("batch 12 of 40").
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from spt_api.services import JobContext, UsageError
from spt_api.services.npy import NpyHeader
from spt_api.storage import safe_name
from workers.services.inference.check import check_against, resolve_model
from workers.services.inference.params import InferenceParams
from workers.services.inference.repository import ModelInfo, ModelRepository
from workers.services.inference.sessions import SESSIONS, providers_for, worker_capabilities
from workers.services.inference.settings import inference_settings, models_url

__all__ = ["load_inputs", "run", "run_batches"]


def _header(array: np.ndarray) -> NpyHeader:
    dtype = array.dtype.name if array.dtype.byteorder != ">" else f">{array.dtype.name}"
    return NpyHeader(dtype, tuple(array.shape), False, array.dtype.itemsize)


def load_inputs(path: Path, info: ModelInfo, workdir: Path) -> dict[str, np.ndarray]:
    """The model's inputs from the ``.npy``/``.npz`` at ``path``, memory-mapped, checked again (the file
    may have changed since the submission)."""
    with path.open("rb") as handle:
        magic = handle.read(6)
    if magic == b"\x93NUMPY":
        arrays = {"": np.load(path, mmap_mode="r", allow_pickle=False)}
        kind = "npy"
    else:
        kind = "npz"
        arrays = {}
        unpacked = workdir / "input"
        unpacked.mkdir(parents=True, exist_ok=True)
        try:
            with zipfile.ZipFile(path) as archive:
                for index, member in enumerate(archive.infolist()):
                    name = member.filename[:-4] if member.filename.endswith(".npy") else member.filename
                    target = unpacked / f"{index}.npy"
                    with archive.open(member) as source, target.open("wb") as sink:
                        while chunk := source.read(8 << 20):
                            sink.write(chunk)
                    arrays[name] = np.load(target, mmap_mode="r", allow_pickle=False)
        except (zipfile.BadZipFile, ValueError, OSError) as exc:
            raise UsageError(f"parameter 'input': the .npz cannot be read: {exc}", parameter="input") from None
    check_against(info, kind, {k: _header(a) for k, a in arrays.items()}, None)
    if kind == "npy":
        return {info.inputs[0].name: arrays[""]}
    return arrays


#: Outputs up to this size (all of them together) are gathered in memory; larger ones in memory-mapped files.
OUTPUT_MEMORY_BYTES = 512 << 20


class _Outputs:
    """Outputs gathered batch by batch: in memory, or in memory-mapped ``.npy`` files of the job's scratch
    directory when they would be large (an input larger than memory has outputs to match)."""

    def __init__(self, names: list[str], rows: int, workdir: Path) -> None:
        self.names = names
        self.rows = rows
        self.folder = workdir / "output"
        self.arrays: list[np.ndarray] = []

    def _allocate(self, values: list[np.ndarray]) -> None:
        shapes = [(self.rows, *v.shape[1:]) for v in values]
        total = sum(int(np.prod(shape)) * v.dtype.itemsize for shape, v in zip(shapes, values, strict=True))
        if total <= OUTPUT_MEMORY_BYTES:
            self.arrays = [np.empty(shape, v.dtype) for shape, v in zip(shapes, values, strict=True)]
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        # Written through plain ndarray views: slicing a np.memmap costs a Python object per batch.
        self.arrays = [
            np.lib.format.open_memmap(
                self.folder / f"{i}-{safe_name(self.names[i])}.npy", mode="w+", dtype=v.dtype, shape=shape
            ).view(np.ndarray)
            for i, (shape, v) in enumerate(zip(shapes, values, strict=True))
        ]

    def write(self, start: int, values: list[np.ndarray]) -> None:
        if not self.arrays:
            self._allocate(values)
        for target, value in zip(self.arrays, values, strict=True):
            target[start : start + len(value)] = value


def run_batches(
    session: Any, info: ModelInfo, arrays: dict[str, np.ndarray], batch_size: int, workdir: Path, ctx: Any = None
) -> list[np.ndarray] | None:
    """Run the model over ``arrays``; each output, in order, or None when aborted."""
    names = [t.name for t in info.outputs]
    if not info.batched:
        return list(session.run(names, {k: np.ascontiguousarray(v) for k, v in arrays.items()}))
    rows = len(next(iter(arrays.values())))
    if rows == 0:
        raise UsageError("parameter 'input': the input has no rows", parameter="input")
    outputs = _Outputs(names, rows, workdir)
    total = -(-rows // batch_size)
    # Plain ndarray views of the memory-mapped inputs: no np.memmap object per batch.
    feeds = [(name, array.view(np.ndarray)) for name, array in arrays.items()]
    run_model = session.run
    for index in range(total):
        if ctx is not None and ctx.is_aborted():
            return None
        start = index * batch_size
        feed = {name: np.ascontiguousarray(array[start : start + batch_size]) for name, array in feeds}
        outputs.write(start, run_model(names, feed))
        if ctx is not None:
            ctx.progress(index + 1, total, f"batch {index + 1} of {total}")
    return outputs.arrays


def _pack_npz(arrays: list[np.ndarray], names: list[str], target: Path) -> Path:
    # As numpy.savez writes it (stored, not compressed): np.load(target)[name] reads each output.
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for array, name in zip(arrays, names, strict=True):
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    return target


def _pack_parquet(arrays: list[np.ndarray], names: list[str], target: Path) -> Path:
    """One column per output; an output of more than one dimension per row is a fixed-size list column
    of its flattened row, its shape kept in the column's metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = len(arrays[0]) if arrays else 0
    chunk = 65536
    fields = []
    for name, array in zip(names, arrays, strict=True):
        value_type = pa.from_numpy_dtype(array.dtype)
        width = int(np.prod(array.shape[1:])) if array.ndim > 1 else 0
        kind = pa.list_(value_type, width) if array.ndim > 1 else value_type
        fields.append(pa.field(name, kind, metadata={"shape": str(list(array.shape[1:]))}))
    schema = pa.schema(fields)
    with pq.ParquetWriter(target, schema) as writer:
        for start in range(0, max(rows, 1), chunk):
            columns = []
            for array, column in zip(arrays, fields, strict=True):
                part = np.ascontiguousarray(array[start : start + chunk])
                if part.ndim > 1:
                    flat = pa.array(part.reshape(-1))
                    columns.append(pa.FixedSizeListArray.from_arrays(flat, column.type.list_size))
                else:
                    columns.append(pa.array(part))
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
    return target


def run(params: InferenceParams, ctx: JobContext) -> None:
    settings = ctx.settings
    inference = inference_settings(settings, ctx.service_settings)
    # One repository for the lookup and the model file: each one on S3 makes an S3 client.
    repository = ModelRepository(models_url(settings, inference), settings)
    info = resolve_model(params, settings, inference, repository)
    providers = providers_for(info, worker_capabilities(settings.worker_capabilities))
    model_file = repository.local_file(info, Path(settings.data_dir) / "model-cache")
    session = SESSIONS.get(info, model_file, providers, inference.session_cache_mb)
    arrays = load_inputs(ctx.input_path(params.input), info, ctx.workdir)
    batch_size = params.batch_size or info.default_batch_size
    outputs = run_batches(session, info, arrays, batch_size, ctx.workdir, ctx)
    if outputs is None:
        return
    names = [t.name for t in info.outputs]
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    if params.output_format == "npy":
        target = ctx.workdir / "output.npy"
        np.save(target, outputs[0])
        ctx.add_result("output.npy", target, "application/x-npy", result_id="output")
    elif params.output_format == "parquet":
        target = _pack_parquet(outputs, names, ctx.workdir / "output.parquet")
        ctx.add_result("output.parquet", target, "application/vnd.apache.parquet", result_id="output")
    else:
        target = _pack_npz(outputs, names, ctx.workdir / "output.npz")
        ctx.add_result("output.npz", target, "application/x-npz", result_id="output")
