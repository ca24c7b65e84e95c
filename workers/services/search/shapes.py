"""What a query array must be, and reading a stored array's header (light: the API's check and the workers
share it; the header reader is the core's, :mod:`spt_api.services.npy`)."""

from __future__ import annotations

from spt_api.services import UsageError
from spt_api.services.npy import NpyFormatError, NpyHeader, npy_header_of

__all__ = ["c_order_header", "check_queries"]


def c_order_header(head: bytes, parameter: str) -> NpyHeader:
    """The header of the C-ordered array at the start of ``head`` (a file's first bytes): a UsageError naming
    ``parameter`` otherwise. Its dtype is numpy's name (``float32``; ``>float32`` when big-endian)."""
    try:
        found = npy_header_of(head)
    except NpyFormatError as exc:
        raise UsageError(f"{parameter}: {exc}", parameter=parameter) from None
    if found.fortran_order:
        raise UsageError(f"{parameter}: a Fortran-ordered array; send it C-ordered", parameter=parameter)
    return found


def check_queries(dtype: str, shape: tuple[int, ...], dimension: int) -> None:
    """Queries must be float32 [q, d] with the index's d: a UsageError naming ``queries`` otherwise. ``dtype``:
    numpy's name of it, as :func:`c_order_header` reads it (little-endian float32 is ``float32``)."""
    if dtype != "float32":
        raise UsageError(f"queries: expected dtype float32 (<f4), got {dtype}", parameter="queries")
    if len(shape) != 2 or shape[1] != dimension:
        raise UsageError(
            f"queries: expected shape [q, {dimension}] (the index's dimension), got {list(shape)}",
            parameter="queries",
        )
    if shape[0] == 0:
        raise UsageError("queries: no query vectors (shape [0, d])", parameter="queries")
