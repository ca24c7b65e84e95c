"""The structure of a FITS file read without astropy's file layer: headers found by offset, data sizes skipped.

A FITS file is a chain of HDUs, each a header of 2880-byte blocks up to the
``END`` card followed by its data, whose size follows from ``BITPIX``,
``NAXISn``, ``PCOUNT`` and ``GCOUNT``. :func:`walk_hdus` reads each header from
any :class:`ByteSource` (for maps on S3, ranged GETs) and skips the data, so a
file is indexed without reading its pixels.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np
from astropy.io import fits

__all__ = ["BITPIX_DTYPES", "BLOCK", "ByteSource", "data_size", "read_header", "walk_hdus"]

BLOCK = 2880
CARD = 80
#: A header longer than this is not a map header (nor a FITS file at all).
MAX_HEADER_BYTES = 64 * 1024 * 1024
BITPIX_DTYPES: dict[int, np.dtype[Any]] = {
    8: np.dtype("u1"),
    16: np.dtype(">i2"),
    32: np.dtype(">i4"),
    64: np.dtype(">i8"),
    -32: np.dtype(">f4"),
    -64: np.dtype(">f8"),
}


class ByteSource(Protocol):
    """Anything that returns ``length`` bytes at ``offset`` (``ValueError`` past its end)."""

    def read(self, offset: int, length: int) -> bytes: ...


def read_header(source: ByteSource, offset: int) -> tuple[fits.Header, int]:
    """The header starting at ``offset`` and the offset of its data (just after the END block)."""
    blocks: list[bytes] = []
    position = offset
    while True:
        if position - offset >= MAX_HEADER_BYTES:
            raise ValueError(f"no END card in the header at byte {offset}")
        block = source.read(position, BLOCK)
        blocks.append(block)
        position += BLOCK
        if any(block[i : i + 3] == b"END" and not block[i + 3 : i + CARD].strip() for i in range(0, BLOCK, CARD)):
            break
    try:
        text = b"".join(blocks).decode("ascii")
    except UnicodeDecodeError as exc:
        raise ValueError(f"the header at byte {offset} is not ASCII: not a FITS file?") from exc
    return fits.Header.fromstring(text), position


def data_size(header: fits.Header, primary: bool) -> int:
    """Bytes of an HDU's data, unpadded (FITS standard 4.4.1.1)."""
    naxis = int(header.get("NAXIS", 0))
    if naxis == 0:
        return 0
    dims = [int(header.get(f"NAXIS{i}", 0)) for i in range(1, naxis + 1)]
    if primary and header.get("GROUPS") is True and dims[0] == 0:
        dims = dims[1:]  # random groups
    count = int(np.prod(dims, dtype=np.int64))
    gcount, pcount = int(header.get("GCOUNT", 1)), int(header.get("PCOUNT", 0))
    return abs(int(header["BITPIX"])) // 8 * gcount * (pcount + count)


def walk_hdus(source: ByteSource, size: int) -> Iterator[tuple[int, fits.Header, int, int]]:
    """Each HDU of a FITS file of ``size`` bytes: ``(index, header, header_offset, data_offset)``.

    Raises ``ValueError`` when the file is not FITS or a header is broken.
    """
    offset, index = 0, 0
    while offset + BLOCK <= size:
        if index == 0:
            if source.read(0, 9) != b"SIMPLE  =":
                raise ValueError("not a FITS file (no SIMPLE card)")
        elif source.read(offset, 9) != b"XTENSION=":
            break  # trailing padding after the last HDU, as astropy tolerates
        header, data_offset = read_header(source, offset)
        yield index, header, offset, data_offset
        datasize = data_size(header, primary=index == 0)
        offset = data_offset + -(-datasize // BLOCK) * BLOCK
        index += 1
