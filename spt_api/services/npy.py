"""The headers of NumPy's ``.npy`` and ``.npz`` files, read in pure Python (no numpy).

The API process checks an uploaded array's dtype and shape before it creates a job, without
importing numpy and without reading the data: a ``.npy`` header is a magic string, a version,
a length and a Python dict literal (``{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }``);
an ``.npz`` is a zip of ``.npy`` members. The format is NEP 1 (numpy.lib.format).
"""

from __future__ import annotations

import ast
import io
import math
import struct
import zipfile
from dataclasses import dataclass
from typing import IO, Any

__all__ = ["NPY_MAGIC", "NPZ_MAGIC", "NpyFormatError", "NpyHeader", "npy_header", "npy_header_of", "npz_headers"]

NPY_MAGIC = b"\x93NUMPY"
NPZ_MAGIC = b"PK\x03\x04"
#: Longest header accepted: numpy writes at most a few hundred bytes; a huge one is not an array.
MAX_HEADER_BYTES = 1 << 16

#: ``descr`` kind and size → numpy's dtype name (the byte order is handled apart).
_NAMES = {
    ("b", 1): "bool",
    ("i", 1): "int8",
    ("i", 2): "int16",
    ("i", 4): "int32",
    ("i", 8): "int64",
    ("u", 1): "uint8",
    ("u", 2): "uint16",
    ("u", 4): "uint32",
    ("u", 8): "uint64",
    ("f", 2): "float16",
    ("f", 4): "float32",
    ("f", 8): "float64",
    ("c", 8): "complex64",
    ("c", 16): "complex128",
}


class NpyFormatError(ValueError):
    """The bytes are not a valid (or complete) ``.npy``/``.npz`` file; the message says why."""


@dataclass(frozen=True)
class NpyHeader:
    """One array's header: numpy's dtype name (``float32``; ``>float32`` when big-endian, ``object``,
    or the raw descr for kinds without a name), its shape and its memory order."""

    dtype: str
    shape: tuple[int, ...]
    fortran_order: bool
    #: Bytes per element (0 when the dtype has no fixed size, e.g. ``object``).
    itemsize: int = 0
    #: Where the data starts in the file.
    data_offset: int = 0

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.itemsize


def _dtype_name(descr: Any) -> tuple[str, int]:
    if not isinstance(descr, str) or len(descr) < 2:
        raise NpyFormatError(f"unsupported dtype {descr!r} (structured arrays are not accepted)")
    order, kind, size_text = (descr[0], descr[1], descr[2:]) if descr[0] in "<>|=" else ("|", descr[0], descr[1:])
    if kind == "O":
        return "object", 0
    try:
        size = int(size_text)
    except ValueError:
        return descr, 0
    name = _NAMES.get((kind, size))
    if name is None:
        return descr, size * (4 if kind == "U" else 1)
    if order == ">" and size > 1:
        return f">{name}", size
    return name, size


def _read_exactly(fileobj: IO[bytes], n: int, what: str) -> bytes:
    data = fileobj.read(n)
    if len(data) != n:
        raise NpyFormatError(f"truncated .npy file: it ends inside the {what}")
    return data


def _parse_header(fileobj: IO[bytes]) -> NpyHeader:
    magic = fileobj.read(len(NPY_MAGIC))
    if magic != NPY_MAGIC:
        raise NpyFormatError("not a .npy file (it does not start with \\x93NUMPY)")
    major, _minor = _read_exactly(fileobj, 2, "version")
    if major == 1:
        (length,) = struct.unpack("<H", _read_exactly(fileobj, 2, "header length"))
        prefix = 10
    elif major in (2, 3):
        (length,) = struct.unpack("<I", _read_exactly(fileobj, 4, "header length"))
        prefix = 12
    else:
        raise NpyFormatError(f"unsupported .npy format version {major}")
    if length > MAX_HEADER_BYTES:
        raise NpyFormatError(f".npy header of {length} bytes is too long")
    raw = _read_exactly(fileobj, length, "header")
    try:
        header = ast.literal_eval(raw.decode("latin-1" if major < 3 else "utf-8"))
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError):
        raise NpyFormatError("the .npy header is not a valid dictionary") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise NpyFormatError("the .npy header must hold exactly descr, fortran_order and shape")
    shape = header["shape"]
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise NpyFormatError(f"invalid shape {shape!r} in the .npy header")
    if not isinstance(header["fortran_order"], bool):
        raise NpyFormatError("invalid fortran_order in the .npy header")
    dtype, itemsize = _dtype_name(header["descr"])
    return NpyHeader(dtype, shape, header["fortran_order"], itemsize, prefix + length)


def npy_header(fileobj: IO[bytes], size: int | None = None) -> NpyHeader:
    """The header of the ``.npy`` file ``fileobj`` (read from its current position, which is 0).

    When the file's ``size`` is given (or ``fileobj`` is seekable), a file whose data is shorter
    than its header says is refused as truncated.

    Raises
    ------
    NpyFormatError
        Not a ``.npy`` file, an unreadable header, or truncated data.
    """
    header = _parse_header(fileobj)
    if size is None and fileobj.seekable():
        size = fileobj.seek(0, io.SEEK_END)
    if size is not None and header.itemsize and size < header.data_offset + header.nbytes:
        raise NpyFormatError(
            f"truncated .npy file: {size - header.data_offset} bytes of data where shape {header.shape} "
            f"of {header.dtype} needs {header.nbytes}"
        )
    return header


def npy_header_of(head: bytes) -> NpyHeader:
    """The header at the start of ``head``, a ``.npy`` file's first bytes (its data is not checked: a
    header read from a stored object's first few KiB).

    Raises
    ------
    NpyFormatError
        Not a ``.npy`` file, or ``head`` ends inside the header.
    """
    return _parse_header(io.BytesIO(head))


def npz_headers(fileobj: IO[bytes]) -> dict[str, NpyHeader]:
    """The headers of every array in the ``.npz`` file ``fileobj`` (seekable), by name (``x`` for ``x.npy``).

    Raises
    ------
    NpyFormatError
        Not a zip file, a member that is not a ``.npy`` array, or a truncated member.
    """
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise NpyFormatError(f"not a valid .npz (zip) file: {exc}") from None
    headers: dict[str, NpyHeader] = {}
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            try:
                with archive.open(info) as member:
                    header = _parse_header(member)
            except NpyFormatError as exc:
                raise NpyFormatError(f"array {name!r} of the .npz: {exc}") from None
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
                raise NpyFormatError(f"array {name!r} of the .npz cannot be read: {exc}") from None
            if header.itemsize and info.file_size < header.data_offset + header.nbytes:
                raise NpyFormatError(f"array {name!r} of the .npz is truncated")
            headers[name] = header
    if not headers:
        raise NpyFormatError("the .npz file holds no arrays")
    return headers
