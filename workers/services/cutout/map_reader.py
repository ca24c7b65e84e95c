"""Reading map HDUs for a job: local files kept open memory-mapped, maps on S3 through an S3 reader.

Maps are opened memory-mapped (``fits.open(memmap=True)``) and kept open by a
:class:`MapReader` for the length of a job, so a 1000-position job reads only
the pages under its cutouts and never loads a whole map. Maps on S3 are read
by ranged GETs of the rows under each cutout instead (``s3_reader``). Scaled
integer maps (``BSCALE``/``BZERO``) are opened with ``do_not_scale_image_data``
for the same reason: astropy would otherwise scale the entire array on first
access; the scaling is applied to each cutout instead (``cut``).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from astropy.io import fits

from spt_api.services.errors import FatalJobError
from workers.services.cutout.map_entry import MapEntry

if TYPE_CHECKING:
    from workers.services.cutout.s3_reader import S3MapReader

__all__ = ["MAX_OPEN_FILES", "MapReader"]

#: Open map files kept by one reader; a job touches a handful of files, and the
#: limit keeps a job over a large catalogue from running out of descriptors.
MAX_OPEN_FILES = 32


class MapReader:
    """Keeps map files open (memory-mapped) while a job cuts from them.

    Entries of a catalogue on S3 (``entry.store`` set) are read by ranged GETs
    instead, through an :class:`~workers.services.cutout.s3_reader.S3MapReader`
    made on first use (``s3``).
    """

    def __init__(self, max_open: int = MAX_OPEN_FILES) -> None:
        self.max_open = max_open
        self._files: OrderedDict[Path, fits.HDUList] = OrderedDict()
        self._s3: S3MapReader | None = None

    @property
    def s3(self) -> S3MapReader:
        """The reader of maps on S3 (its ``requests`` and ``bytes_read`` count what was fetched)."""
        if self._s3 is None:
            from workers.services.cutout.s3_reader import S3MapReader

            self._s3 = S3MapReader()
        return self._s3

    def __enter__(self) -> MapReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        while self._files:
            _, hdul = self._files.popitem()
            hdul.close()
        if self._s3 is not None:
            self._s3.close()
            self._s3 = None

    def _open(self, entry: MapEntry) -> fits.HDUList:
        path = entry.path
        hdul = self._files.get(path)
        if hdul is not None:
            self._files.move_to_end(path)
            return hdul
        try:
            stat = path.stat()
        except OSError as exc:
            raise FatalJobError(f"map {entry.file} listed in the catalogue is missing: {exc}") from exc
        if entry.size and stat.st_size != entry.size:
            # The WCS used to place the cutout comes from the catalogue; a
            # changed file could have another grid, so refuse rather than cut wrong pixels.
            # (Only the size is compared: copies and volume mounts change mtimes.)
            raise FatalJobError(f"map {entry.file} changed since it was indexed: rebuild the catalogue")
        hdul = fits.open(path, memmap=True, do_not_scale_image_data=True, lazy_load_hdus=True, mode="readonly")
        self._files[path] = hdul
        if len(self._files) > self.max_open:
            _, oldest = self._files.popitem(last=False)
            oldest.close()
        return hdul

    def prefetch(self, entry: MapEntry, rows: slice, cols: slice) -> None:
        """Start reading pixels ``[rows, cols]`` that a later cut will need (maps on S3; a no-op for files,
        whose pages the kernel reads on demand)."""
        if entry.store is not None:
            self.s3.prefetch(entry, rows, cols)

    def hdu(self, entry: MapEntry) -> tuple[Any, fits.Header]:
        """The (memory-mapped, 2-D) data and header of an entry's HDU.

        For a map on S3 the data is an :class:`~workers.services.cutout.s3_reader.S3Section`:
        sliced like an array (``Cutout2D`` accepts it), it fetches only the rows sliced.
        """
        if entry.store is not None:
            return self.s3.hdu(entry)
        hdu = self._open(entry)[entry.hdu]
        data = hdu.data
        if data is None or data.ndim < 2:
            raise FatalJobError(f"HDU {entry.key} has no image data")
        if data.ndim > 2:
            data = data.reshape(data.shape[-2:])  # degenerate axes (e.g. one Stokes plane)
        return data, hdu.header
