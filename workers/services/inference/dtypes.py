"""Element types by their three names: Triton's ``TYPE_FP32``, ONNX's ``TensorProto`` number and numpy's name."""

from __future__ import annotations

__all__ = ["ONNX_TYPES", "TRITON_TYPES"]

#: Triton model-config DataType names → numpy dtype names (``TYPE_STRING`` has no fixed-size array).
TRITON_TYPES = {
    "TYPE_BOOL": "bool",
    "TYPE_UINT8": "uint8",
    "TYPE_UINT16": "uint16",
    "TYPE_UINT32": "uint32",
    "TYPE_UINT64": "uint64",
    "TYPE_INT8": "int8",
    "TYPE_INT16": "int16",
    "TYPE_INT32": "int32",
    "TYPE_INT64": "int64",
    "TYPE_FP16": "float16",
    "TYPE_FP32": "float32",
    "TYPE_FP64": "float64",
    "TYPE_STRING": "string",
    "TYPE_BF16": "bfloat16",
}

#: ONNX ``TensorProto.DataType`` numbers → numpy dtype names.
ONNX_TYPES = {
    1: "float32",
    2: "uint8",
    3: "int8",
    4: "uint16",
    5: "int16",
    6: "int32",
    7: "int64",
    8: "string",
    9: "bool",
    10: "float16",
    11: "float64",
    12: "uint32",
    13: "uint64",
    14: "complex64",
    15: "complex128",
    16: "bfloat16",
}
