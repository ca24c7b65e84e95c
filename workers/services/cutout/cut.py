"""Cutting one target out of one map HDU: the pixels, their WCS, and where in the map they came from.

The data comes from a :class:`~workers.services.cutout.map_reader.MapReader`
(memory-mapped file or ranged S3 reads); astropy's ``Cutout2D`` computes the
cutout, its WCS and the NaN padding of a box that crosses the map edge. Raw
integer maps are scaled (``BSCALE``/``BZERO``, ``BLANK``) here, per cutout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from astropy.nddata import Cutout2D, NoOverlapError
from astropy.nddata.utils import overlap_slices
from astropy.wcs import WCS

from workers.services.cutout.map_entry import MapEntry
from workers.services.cutout.map_reader import MapReader
from workers.services.cutout.sky import pixel_box
from workers.services.cutout.target import Target

__all__ = ["Cutout", "make_cutout", "prefetch_cutout"]


@dataclass
class Cutout:
    """One cut: pixels, their WCS, and where they came from."""

    target: Target
    entry: MapEntry
    data: np.ndarray
    wcs: WCS
    partial: bool
    #: 0-based pixel of the source map at the cutout's pixel (0, 0).
    origin: tuple[int, int]
    #: The requested position in the cutout's 0-based pixel coordinates.
    position: tuple[float, float]
    source_header: fits.Header
    has_data: bool = True

    @property
    def status(self) -> str:
        if not self.has_data:
            return "nodata"
        return "partial" if self.partial else "ok"

    @property
    def message(self) -> str:
        if not self.has_data:
            return "the cutout holds no data (blank region of the map)"
        if self.partial:
            return "partial overlap with the map edge: padded with NaN"
        return ""


def prefetch_cutout(reader: MapReader, entry: MapEntry, target: Target) -> None:
    """Ask ``reader`` to start reading the pixels :func:`make_cutout` will read for ``target`` (maps on S3).

    The slices are those ``Cutout2D`` takes from the map (``overlap_slices``,
    as it calls it); a target off the map or outside the projection asks for nothing.
    """
    if entry.store is None:
        return
    try:
        x, y, nx, ny = pixel_box(entry.wcs, target.ra, target.dec, target.width, target.height)
        rows, cols = overlap_slices(entry.shape, (ny, nx), (y, x), mode="partial")[0]
    except (ValueError, NoOverlapError):
        return
    reader.prefetch(entry, rows, cols)


def make_cutout(reader: MapReader, entry: MapEntry, target: Target) -> Cutout | None:
    """Cut ``target`` from ``entry``; ``None`` when the box does not overlap the map.

    Raises ``ValueError`` when the position cannot be projected into the map.
    """
    data, header = reader.hdu(entry)
    x, y, nx, ny = pixel_box(entry.wcs, target.ra, target.dec, target.width, target.height)
    is_float = np.issubdtype(data.dtype, np.floating)
    try:
        cut = Cutout2D(
            data,
            (x, y),
            (ny, nx),
            wcs=entry.wcs,
            mode="partial",
            fill_value=np.nan if is_float else 0,
            copy=False,
        )
    except NoOverlapError:
        return None
    (ymin, ymax), (xmin, xmax) = cut.bbox_original
    partial = (ymax - ymin + 1, xmax - xmin + 1) != cut.data.shape
    pixels = cut.data
    bscale, bzero = float(header.get("BSCALE", 1.0)), float(header.get("BZERO", 0.0))
    if not is_float or bscale != 1.0 or bzero != 0.0:
        raw = pixels
        pixels = raw.astype(np.float32) * np.float32(bscale) + np.float32(bzero)
        if not is_float and "BLANK" in header:
            pixels[raw == header["BLANK"]] = np.nan
        if partial and not is_float:
            inside = np.zeros(pixels.shape, dtype=bool)
            inside[cut.slices_cutout] = True
            pixels[~inside] = np.nan
    finite = np.isfinite(pixels)
    has_data = bool(finite.any()) and bool(np.any(pixels[finite] != 0))
    # origin_original is the first map pixel inside the cutout, which mode="partial"
    # clips to the overlap; the map pixel at the cutout's (0, 0) lies origin_cutout before it
    # (negative off the bottom or left edge), as the cutout's WCS says.
    ox = cut.origin_original[0] - cut.origin_cutout[0]
    oy = cut.origin_original[1] - cut.origin_cutout[1]
    px, py = cut.input_position_cutout
    return Cutout(
        target=target,
        entry=entry,
        data=pixels,
        wcs=cut.wcs,
        partial=partial,
        origin=(int(ox), int(oy)),
        position=(float(px), float(py)),
        source_header=header,
        has_data=has_data,
    )
