"""``spt_api.services.npy``: the pure-Python .npy/.npz header reader agrees with numpy, and refuses bad files."""

from __future__ import annotations

import io

import numpy as np
import pytest

from spt_api.services.npy import NpyFormatError, npy_header, npz_headers


def npy_bytes(array: np.ndarray, version: tuple[int, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=version)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((3, 4), np.float32),
        np.arange(10, dtype=np.int64),
        np.ones((2, 3, 5), np.float64, order="F"),
        np.zeros((0, 8), np.uint8),
        np.array(3.5, np.float16),
        np.zeros(4, ">f4"),
        np.zeros(3, bool),
        np.zeros((2, 2), np.complex64),
    ],
    ids=lambda a: f"{a.dtype.str}{a.shape}",
)
def test_npy_header_matches_numpy(array: np.ndarray) -> None:
    data = npy_bytes(array)
    header = npy_header(io.BytesIO(data))
    expected = array.dtype.name if array.dtype.byteorder != ">" else f">{array.dtype.name}"
    assert header.dtype == expected
    assert header.shape == array.shape
    assert header.fortran_order == (array.flags.f_contiguous and not array.flags.c_contiguous)
    assert header.data_offset + header.nbytes == len(data)


def test_version_2_headers_are_read() -> None:
    header = npy_header(io.BytesIO(npy_bytes(np.zeros((2, 7), np.int32), version=(2, 0))))
    assert (header.dtype, header.shape) == ("int32", (2, 7))


def test_npz_headers_match_numpy() -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, a=np.zeros((5, 3), np.float32), b=np.arange(5))
    buffer.seek(0)
    headers = npz_headers(buffer)
    assert {k: (h.dtype, h.shape) for k, h in headers.items()} == {"a": ("float32", (5, 3)), "b": ("int64", (5,))}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a .npy file"),
        (b"hello world, not an array", "not a .npy file"),
        (npy_bytes(np.zeros((100, 4), np.float32))[:300], "truncated .npy file: 172 bytes of data"),
        (npy_bytes(np.zeros(4))[:20], "ends inside the header"),
        (b"\x93NUMPY\x01\x00\x10\x00{'descr': 1}    \n", "exactly descr, fortran_order and shape"),
        (b"\x93NUMPY\x01\x00\x10\x00__import__('os')", "not a valid dictionary"),
        (b"\x93NUMPY\x09\x00", "unsupported .npy format version 9"),
    ],
    ids=["empty", "text", "truncated-data", "truncated-header", "bad-dict", "code", "version"],
)
def test_bad_npy_files_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(NpyFormatError, match=message.replace("(", r"\(").replace(".", r"\.")):
        npy_header(io.BytesIO(data))


def test_bad_npz_files_are_refused() -> None:
    buffer = io.BytesIO()
    np.savez(buffer, a=np.zeros((50, 3)))
    with pytest.raises(NpyFormatError, match=r"not a valid \.npz"):
        npz_headers(io.BytesIO(buffer.getvalue()[:100]))
    with pytest.raises(NpyFormatError, match=r"not a valid \.npz"):
        npz_headers(io.BytesIO(b"PK\x03\x04 garbage"))
