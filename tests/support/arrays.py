"""NumPy arrays as the bytes of .npy and .npz files, as a client uploads them."""

from __future__ import annotations

import io

import numpy as np

__all__ = ["npy_bytes", "npz_bytes"]


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()
