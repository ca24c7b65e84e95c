"""The header of a ``.npy`` file, read without numpy (the API checks uploads with it).

Replaced by ``spt_api.services.npy`` once the binary inputs land (same answer: dtype, shape, order).
"""

from __future__ import annotations

import ast
import struct
from dataclasses import dataclass

from spt_api.services import UsageError

__all__ = ["NpyHeader", "c_order_header", "parse_npy_header"]

MAGIC = b"\x93NUMPY"


@dataclass(frozen=True)
class NpyHeader:
    #: numpy's dtype string, e.g. ``<f4``
    dtype: str
    shape: tuple[int, ...]
    fortran_order: bool


def parse_npy_header(head: bytes) -> NpyHeader:
    """The header at the start of ``head`` (the file's first bytes); ValueError when it is not one."""
    if not head.startswith(MAGIC) or len(head) < 10:
        raise ValueError("not a .npy file (no \\x93NUMPY magic)")
    major = head[6]
    if major == 1:
        (length,) = struct.unpack("<H", head[8:10])
        start = 10
    elif major in (2, 3):
        if len(head) < 12:
            raise ValueError("truncated .npy header")
        (length,) = struct.unpack("<I", head[8:12])
        start = 12
    else:
        raise ValueError(f"unknown .npy format version {major}")
    if length > 65536 or len(head) < start + length:
        raise ValueError("truncated or oversized .npy header")
    try:
        fields = ast.literal_eval(head[start : start + length].decode("latin1"))
        dtype, shape, fortran = fields["descr"], fields["shape"], fields["fortran_order"]
    except (ValueError, SyntaxError, KeyError, TypeError, MemoryError, RecursionError):
        raise ValueError("unreadable .npy header") from None
    if not isinstance(dtype, str) or not isinstance(shape, tuple) or not all(isinstance(n, int) for n in shape):
        raise ValueError("a .npy header whose dtype is not a plain type")
    return NpyHeader(dtype, shape, bool(fortran))


def c_order_header(head: bytes, parameter: str) -> NpyHeader:
    """The header of the C-ordered array at the start of ``head``: a UsageError naming ``parameter`` otherwise."""
    try:
        found = parse_npy_header(head)
    except ValueError as exc:
        raise UsageError(f"{parameter}: {exc}", parameter=parameter) from None
    if found.fortran_order:
        raise UsageError(f"{parameter}: a Fortran-ordered array; send it C-ordered", parameter=parameter)
    return found
