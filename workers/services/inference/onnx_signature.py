"""An ONNX model's inputs and outputs, read from its protobuf wire format without loading the model.

Triton auto-completes a model's configuration from the ONNX graph; so do we, in the API process,
where neither onnx (numpy) nor onnxruntime may be imported, and where a model of gigabytes must
not be read whole. The reader walks ``ModelProto.graph`` (field 7) and keeps ``GraphProto.input``
(11) and ``output`` (12), seeking past everything else (the initializers' data above all), and
drops inputs that are initializers (older exporters list weights among the inputs).
Field numbers are those of onnx/onnx.proto3.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import IO

from workers.services.inference.dtypes import ONNX_TYPES

__all__ = ["OnnxFormatError", "TensorSpec", "onnx_signature"]

#: Longest ValueInfoProto read into memory (a name and a type: a few hundred bytes in practice).
MAX_VALUE_INFO = 1 << 20


class OnnxFormatError(ValueError):
    """Not an ONNX model, or one whose signature cannot be served (a non-tensor input or output)."""


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: its name, numpy dtype name and shape (-1 for a dimension of any size)."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


def _varint(stream: IO[bytes]) -> int | None:
    result = shift = 0
    while True:
        byte = stream.read(1)
        if not byte:
            if shift == 0:
                return None
            raise OnnxFormatError("truncated ONNX file (inside a varint)")
        result |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return result
        shift += 7
        if shift > 63:
            raise OnnxFormatError("not an ONNX model (a varint longer than 10 bytes)")


def _walk(stream: IO[bytes], end: int | None, keep: set[int]):  # type: ignore[no-untyped-def]
    """Yield ``(field, wire type, value)`` for each field up to ``end``: the bytes of length-delimited
    fields in ``keep``, their (offset, length) for the others (skipped), varints as ints."""
    while end is None or stream.tell() < end:
        key = _varint(stream)
        if key is None:
            if end is not None:
                raise OnnxFormatError("truncated ONNX file")
            return
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, wire, _varint(stream)
        elif wire == 1:
            stream.seek(8, io.SEEK_CUR)
        elif wire == 5:
            stream.seek(4, io.SEEK_CUR)
        elif wire == 2:
            length = _varint(stream)
            if length is None:
                raise OnnxFormatError("truncated ONNX file")
            start = stream.tell()
            if number in keep:
                if length > MAX_VALUE_INFO:
                    raise OnnxFormatError(f"an ONNX field {number} of {length} bytes is too long")
                data = stream.read(length)
                if len(data) != length:
                    raise OnnxFormatError("truncated ONNX file")
                yield number, wire, data
            else:
                yield number, wire, (start, length)
                stream.seek(start + length)
        else:
            raise OnnxFormatError(f"not an ONNX model (wire type {wire})")


def _parse_value_info(data: bytes) -> TensorSpec:
    name = ""
    dtype = ""
    shape: list[int] = []
    tensor = False
    for number, _wire, value in _walk(io.BytesIO(data), len(data), {1, 2}):
        if number == 1:
            name = value.decode("utf-8", "replace")
        elif number == 2:  # TypeProto
            for t_number, _w, t_value in _walk(io.BytesIO(value), len(value), {1}):
                if t_number != 1:
                    continue  # sequence, map, optional, sparse: not a plain tensor
                tensor = True
                for s_number, _w2, s_value in _walk(io.BytesIO(t_value), len(t_value), {2}):
                    if s_number == 1:  # elem_type
                        dtype = ONNX_TYPES.get(s_value, f"onnx-type-{s_value}")
                    elif s_number == 2:  # TensorShapeProto
                        for d_number, _w3, d_value in _walk(io.BytesIO(s_value), len(s_value), {1}):
                            if d_number == 1:
                                size = -1
                                for x_number, x_wire, x_value in _walk(io.BytesIO(d_value), len(d_value), set()):
                                    if x_number == 1 and x_wire == 0:
                                        size = int(x_value)
                                shape.append(size if size > 0 else -1)
    if not tensor:
        raise OnnxFormatError(f"the model's input or output {name!r} is not a tensor (e.g. a map or a sequence)")
    return TensorSpec(name, dtype, tuple(shape))


def _initializer_name(stream: IO[bytes], start: int, length: int, field: int) -> str:
    """The name of a TensorProto (field 8) or SparseTensorProto (its values' name) at ``start``."""
    here = stream.tell()
    stream.seek(start)
    name = ""
    for number, _wire, value in _walk(stream, start + length, {8} if field == 5 else {1}):
        if field == 5 and number == 8:
            name = value.decode("utf-8", "replace")
        elif field == 15 and number == 1:
            return _initializer_name(io.BytesIO(value), 0, len(value), 5)
    stream.seek(here)
    return name


def onnx_signature(stream: IO[bytes]) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The graph inputs (initializers excluded) and outputs of the ONNX model in ``stream`` (seekable).

    Raises
    ------
    OnnxFormatError
        Not an ONNX model, or an input or output that is not a tensor.
    """
    graph: tuple[int, int] | None = None
    for number, wire, value in _walk(stream, None, set()):
        if number == 7 and wire == 2:
            graph = value
    if graph is None:
        raise OnnxFormatError("not an ONNX model (no graph)")
    start, length = graph
    stream.seek(start)
    inputs: list[TensorSpec] = []
    outputs: list[TensorSpec] = []
    weights: set[str] = set()
    for number, _wire, value in _walk(stream, start + length, {11, 12}):
        if number == 11:
            inputs.append(_parse_value_info(value))
        elif number == 12:
            outputs.append(_parse_value_info(value))
        elif number in (5, 15):
            weights.add(_initializer_name(stream, value[0], value[1], number))
    if not outputs:
        raise OnnxFormatError("not an ONNX model (its graph has no output)")
    return [spec for spec in inputs if spec.name not in weights], outputs
