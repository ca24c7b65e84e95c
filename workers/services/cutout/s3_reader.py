"""Cutting maps on S3: a slice of a map HDU costs a ranged GET of the rows under it.

:class:`S3MapReader` reads only the rows under the cutout: pixel
``(y, x)`` of an uncompressed image is at ``data_offset + (y * NAXIS1 + x) *
itemsize``, so rows ``y0..y1`` are one contiguous byte range. One GET fetches
that band of full-width rows (a 600-px-wide float32 map: 2.4 kB a row; an
11-px stamp costs 26 kB, not the 1.4 MB map), in pieces of at most 8 MiB so a
large stamp never holds more than one piece beside the result. Only when a
row is so wide that the unneeded part of each row exceeds 256 KiB (maps wider
than ~65 000 float32 pixels) does it pay to fetch per-row spans of just the
needed columns instead, one GET per row, 8 at a time: S3 has no multi-range
GET, and below that width one request's latency costs more than the extra bytes.
The reader is an :class:`astropy.io.fits.Section` (what ``Cutout2D`` accepts in
place of an array), so astropy computes the cutout, its WCS and its padding
exactly as for a memory-mapped local file.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.io.fits.hdu.image import Section

from spt_api.services.errors import FatalJobError
from workers.services.cutout.fits_headers import BITPIX_DTYPES
from workers.services.cutout.map_entry import MapEntry
from workers.services.cutout.prefetch import BandPrefetcher
from workers.services.cutout.row_cache import BAND_CACHE_BYTES, RowBandCache
from workers.services.cutout.s3_ranges import get_range

__all__ = ["S3MapReader", "S3Section"]

#: Fetch per-row spans instead of full-width rows when more than this many
#: bytes of each row would be thrown away (see the module docstring).
ROW_SPAN_MIN_WASTE = 256 * 1024
#: Largest single ranged GET of full-width rows: bounds the memory of a large cutout.
BAND_CHUNK_BYTES = 8 * 1024 * 1024
#: Concurrent GETs, of per-row spans and of bands requested ahead (below botocore's 10 pooled connections).
FETCH_THREADS = 8


_HEADERS: OrderedDict[tuple[str, int, int, int], fits.Header] = OrderedDict()
_HEADERS_LOCK = threading.Lock()
_HEADERS_MAX = 256


class S3Section(Section):  # type: ignore[misc]
    """A 2-D image HDU on S3, sliced like ``ImageHDU.section``: a slice costs a ranged GET of its rows.

    ``Cutout2D`` accepts a :class:`~astropy.io.fits.Section` in place of the
    data array, so the local and the S3 cutouts run through the same astropy code.
    Slices come back raw (big-endian, unscaled), as a memory-mapped file opened
    with ``do_not_scale_image_data`` gives them.
    """

    def __init__(self, reader: S3MapReader, entry: MapEntry, dtype: np.dtype[Any]) -> None:
        self.hdu = None
        self.reader = reader
        self.entry = entry
        self._dtype = dtype

    @property
    def shape(self) -> tuple[int, int]:
        return self.entry.shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._dtype

    @property
    def ndim(self) -> int:
        return 2

    def __getitem__(self, key: Any) -> Any:
        if not isinstance(key, tuple):
            key = (key,)
        if Ellipsis in key:
            at = key.index(Ellipsis)
            key = key[:at] + (slice(None),) * (3 - len(key)) + key[at + 1 :]
        if len(key) > 2:
            raise IndexError("too many indices for a 2-D map")
        key = key + (slice(None),) * (2 - len(key))
        spans: list[tuple[int, int]] = []
        picks: list[Any] = []
        shape: list[int] = []
        for k, n in zip(key, self.shape, strict=True):
            if isinstance(k, int | np.integer):
                i = int(k) + (n if k < 0 else 0)
                if not 0 <= i < n:
                    raise IndexError(f"index {k} is out of bounds for an axis of size {n}")
                spans.append((i, i + 1))
                picks.append(0)
            elif isinstance(k, slice):
                indices = range(*k.indices(n))
                shape.append(len(indices))
                if not indices:
                    spans.append((0, 0))
                    picks.append(slice(None))
                    continue
                lo, hi = min(indices[0], indices[-1]), max(indices[0], indices[-1]) + 1
                spans.append((lo, hi))
                picks.append(slice(None) if indices.step == 1 else np.asarray(indices) - lo)
            else:
                raise IndexError(f"unsupported index for a map on S3: {k!r}")
        if any(lo == hi for lo, hi in spans):
            return np.empty(shape, dtype=self._dtype)
        (r0, r1), (c0, c1) = spans
        block: Any = self.reader.read(self.entry, self._dtype, r0, r1, c0, c1)
        for axis in (1, 0):
            if not (isinstance(picks[axis], slice) and picks[axis] == slice(None)):
                block = block.take(picks[axis], axis=axis)
        return block


class S3MapReader:
    """Reads cutouts of map HDUs on S3 by ranged GETs; one per job (``MapReader`` makes it on demand).

    Attributes ``requests`` and ``bytes_read`` count the data GETs (headers included).
    :meth:`prefetch` starts the GETs of a later cutout on a small thread pool;
    otherwise the reader is used from the job's thread only.
    """

    def __init__(self, cache_bytes: int = BAND_CACHE_BYTES) -> None:
        self._bands = RowBandCache(cache_bytes)
        self._ahead = BandPrefetcher()
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.requests = 0
        self.bytes_read = 0

    def __enter__(self) -> S3MapReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._ahead.clear()
        self._bands.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(FETCH_THREADS, thread_name_prefix="s3-map-rows")
        return self._pool

    def _get(self, entry: MapEntry, start: int, stop: int) -> bytes:
        assert entry.store is not None
        data = get_range(
            entry.store.client(), entry.store.bucket, entry.store.key(entry.file), start, stop, size=entry.size
        )
        with self._lock:
            self.requests += 1
            self.bytes_read += len(data)
        return data

    def header(self, entry: MapEntry) -> fits.Header:
        """The HDU's header (one ranged GET, cached per process)."""
        if entry.store is None:
            raise FatalJobError(f"{entry.key} is not a map on S3")
        if entry.header_offset < 0 or entry.data_offset <= entry.header_offset:
            raise FatalJobError(
                f"the map catalogue of {entry.store.url} has no byte offsets for {entry.key}: "
                f"rebuild it with 'spt-api maps index {entry.store.url}'"
            )
        ident = (entry.location, entry.hdu, entry.size, entry.header_offset)
        with _HEADERS_LOCK:
            header = _HEADERS.get(ident)
            if header is not None:
                _HEADERS.move_to_end(ident)
                return header
        raw = self._get(entry, entry.header_offset, entry.data_offset)
        try:
            header = fits.Header.fromstring(raw.decode("ascii"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise FatalJobError(f"map {entry.location} changed since it was indexed: rebuild the catalogue") from exc
        naxis = (int(header.get("NAXIS2", 0)), int(header.get("NAXIS1", 0)))
        xtension = str(header.get("XTENSION", "IMAGE")).strip().upper()
        if naxis != entry.shape or xtension != "IMAGE" or int(header.get("BITPIX", 0)) not in BITPIX_DTYPES:
            raise FatalJobError(f"map {entry.location} changed since it was indexed: rebuild the catalogue")
        with _HEADERS_LOCK:
            _HEADERS[ident] = header
            while len(_HEADERS) > _HEADERS_MAX:
                _HEADERS.popitem(last=False)
        return header

    def hdu(self, entry: MapEntry) -> tuple[S3Section, fits.Header]:
        """A lazily read view of the entry's image and its header (what ``MapReader.hdu`` returns)."""
        header = self.header(entry)
        return S3Section(self, entry, BITPIX_DTYPES[int(header["BITPIX"])]), header

    def read(self, entry: MapEntry, dtype: np.dtype[Any], r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Pixels ``[r0:r1, c0:c1]`` (raw, big-endian), fetched by ranged GETs of their rows."""
        width = entry.shape[1]
        itemsize = dtype.itemsize
        row_bytes = width * itemsize
        out = np.empty((r1 - r0, c1 - c0), dtype=dtype)
        if (width - (c1 - c0)) * itemsize > ROW_SPAN_MIN_WASTE:
            # Very wide rows: only the needed columns of each row, GETs in parallel.
            def span(row: int) -> bytes:
                start = entry.data_offset + row * row_bytes + c0 * itemsize
                return self._get(entry, start, start + (c1 - c0) * itemsize)

            for i, data in enumerate(self._executor().map(span, range(r0, r1))):
                out[i] = np.frombuffer(data, dtype=dtype)
            return out
        chunk_rows = max(1, BAND_CHUNK_BYTES // row_bytes)
        row = r0
        while row < r1:
            # A band requested ahead first: left unread, it would only hold memory.
            found = self._ahead.take(entry.location, entry.hdu, row)
            if found is not None:
                self._bands.remember(entry.location, entry.hdu, *found)
            else:
                found = self._bands.find(entry.location, entry.hdu, row)
            if found is None:
                stop = min(r1, row + chunk_rows)
                found = (row, self._band(entry, dtype, row, stop))
                self._bands.remember(entry.location, entry.hdu, *found)
            first, band = found
            stop = min(r1, first + band.shape[0])
            out[row - r0 : stop - r0] = band[row - first : stop - first, c0:c1]
            row = stop
        return out

    def _band(self, entry: MapEntry, dtype: np.dtype[Any], r0: int, r1: int) -> np.ndarray:
        """Full-width rows ``r0..r1-1`` by one ranged GET."""
        row_bytes = entry.shape[1] * dtype.itemsize
        data = self._get(entry, entry.data_offset + r0 * row_bytes, entry.data_offset + r1 * row_bytes)
        return np.frombuffer(data, dtype=dtype).reshape(r1 - r0, entry.shape[1])

    def prefetch(self, entry: MapEntry, rows: slice, cols: slice) -> None:
        """Start fetching the pixels ``[rows, cols]`` that a later :meth:`read` will ask for.

        Only what :meth:`read` fetches as one band of full-width rows is
        requested ahead, and only when neither the cache nor an earlier request
        holds those rows.
        """
        r0, r1, c0, c1 = rows.start, rows.stop, cols.start, cols.stop
        if r1 <= r0 or c1 <= c0:
            return
        dtype = BITPIX_DTYPES[int(self.header(entry)["BITPIX"])]
        width, itemsize = entry.shape[1], dtype.itemsize
        nbytes = (r1 - r0) * width * itemsize
        if (width - (c1 - c0)) * itemsize > ROW_SPAN_MIN_WASTE or nbytes > BAND_CHUNK_BYTES:
            return  # read() fetches these in pieces of its own
        cached = self._bands.find(entry.location, entry.hdu, r0)
        if cached is not None and r1 <= cached[0] + cached[1].shape[0]:
            return
        if self._ahead.covers(entry.location, entry.hdu, r0, r1):
            return
        self._ahead.request(
            self._executor(), entry.location, entry.hdu, r0, r1, nbytes, lambda: self._band(entry, dtype, r0, r1)
        )
