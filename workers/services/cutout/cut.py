"""Cutting one target out of one map HDU, and writing the cutout as FITS or PNG.

Maps are opened memory-mapped (``fits.open(memmap=True)``) and kept open by a
:class:`MapReader` for the length of a job, so a 1000-position job reads only
the pages under its cutouts and never loads a whole map. Maps on S3 are read
by ranged GETs of the rows under each cutout instead (``maps_s3``). Scaled integer maps
(``BSCALE``/``BZERO``) are opened with ``do_not_scale_image_data`` for the same
reason: astropy would otherwise scale the entire array on first access; the
scaling is applied to each cutout instead.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np
from astropy.io import fits
from astropy.nddata import Cutout2D, NoOverlapError
from astropy.wcs import WCS, FITSFixedWarning

from spt_api.services.errors import FatalJobError
from workers.services.cutout.catalogue import MapEntry, pixel_box
from workers.services.cutout.params import Target

if TYPE_CHECKING:
    from workers.services.cutout.maps_s3 import S3MapReader

__all__ = [
    "Cutout",
    "MapReader",
    "cutout_filename",
    "cutout_header",
    "fits_bytes",
    "make_cutout",
    "render_png",
    "safe_name",
    "write_fits",
]

#: Open map files kept by one reader; a job touches a handful of files, and the
#: limit keeps a job over a large catalogue from running out of descriptors.
MAX_OPEN_FILES = 32
#: PNGs smaller than this (pixels on the long side) are enlarged by an integer
#: factor, nearest neighbour, so that a 5' stamp of 11 pixels is visible in a
#: browser without resampling the data.
MIN_PNG_PIXELS = 256
#: Source-map keywords copied into every cutout for provenance.
COPY_KEYWORDS = ("TELESCOP", "INSTRUME", "OBSERVER", "DATE-OBS", "BEAMFWHM", "NOISE")

Scaling = Literal["linear", "asinh", "zscale"]


def safe_name(text: str) -> str:
    """A file-name-safe form of a name (results are named by data, never paths)."""
    cleaned = re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("._")
    return cleaned[:100] or "x"


def fits_text(text: str) -> str:
    """Printable ASCII for a header value (FITS allows nothing else); others become ``?``."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def cutout_filename(target: Target, entry: MapEntry, extension: str) -> str:
    band = f"{entry.band}GHz" if entry.band is not None else f"hdu{entry.hdu}"
    return f"{safe_name(target.name)}_{safe_name(entry.map)}_{band}.{extension}"


class MapReader:
    """Keeps map files open (memory-mapped) while a job cuts from them.

    Entries of a catalogue on S3 (``entry.store`` set) are read by ranged GETs
    instead, through an :class:`~workers.services.cutout.maps_s3.S3MapReader`
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
            from workers.services.cutout.maps_s3 import S3MapReader

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

    def hdu(self, entry: MapEntry) -> tuple[Any, fits.Header]:
        """The (memory-mapped, 2-D) data and header of an entry's HDU.

        For a map on S3 the data is an :class:`~workers.services.cutout.maps_s3.S3Section`:
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
    ox, oy = cut.origin_original
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


def cutout_header(cutout: Cutout) -> fits.Header:
    """The cutout's WCS plus units and provenance (source file, HDU, map, band, position)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        header = cutout.wcs.to_header(relax=True)
    entry, target = cutout.entry, cutout.target
    source = cutout.source_header
    if entry.bunit:
        header["BUNIT"] = (entry.bunit, "pixel units (from the source map)")
    for key in COPY_KEYWORDS:
        if key in source:
            header[key] = (source[key], source.comments[key])
    cards: list[tuple[str, Any, str]] = [
        ("ORIGFILE", fits_text(entry.file), "source map file"),
        ("ORIGHDU", entry.hdu, "source HDU index"),
        ("ORIGEXT", entry.extname, "source HDU EXTNAME"),
        ("ORIGX0", cutout.origin[0], "source-map pixel (0-based) at cutout x=0"),
        ("ORIGY0", cutout.origin[1], "source-map pixel (0-based) at cutout y=0"),
        ("MAPNAME", fits_text(entry.map), "map / field name"),
        ("RELEASE", fits_text(entry.release), "map release"),
        ("BAND", entry.band, "[GHz] observing band"),
        ("CUTNAME", fits_text(target.name), "position name"),
        ("CUTRA", target.ra, "[deg] requested centre, ICRS"),
        ("CUTDEC", target.dec, "[deg] requested centre, ICRS"),
    ]
    for key, value, comment in cards:
        if value is None or value == "":
            continue
        # Long values (file and position names) keep the whole value: the
        # comment goes instead, and astropy continues long strings (CONTINUE).
        header[key] = (value, comment) if len(str(value)) + len(comment) < 60 else value
    # No comment: a POLYGON can be longer than one card, and astropy then
    # continues the value over CONTINUE cards, which a comment would truncate.
    header["CUTPOS"] = target.pos
    header["CUTPART"] = (cutout.partial, "partial overlap, padded with NaN")
    return header


#: Cards that change from one cutout of a map HDU to the next; every other card
#: of :func:`cutout_header` is the same for all cutouts of that HDU.
_VARYING = ("CRPIX1", "CRPIX2", "ORIGX0", "ORIGY0", "CUTNAME", "CUTRA", "CUTDEC", "CUTPOS", "CUTPART")
_STRUCTURE = ("SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND")
_BLOCK = 2880
_CONSTANT_CARDS: OrderedDict[tuple[str, str, float], str] = OrderedDict()


def _constant_cards(cutout: Cutout) -> str:
    """The card images shared by every cutout of the cutout's HDU (cached)."""
    entry = cutout.entry
    key = (entry.location, entry.key, entry.mtime)
    images = _CONSTANT_CARDS.get(key)
    if images is None:
        header = cutout_header(cutout)
        images = "".join(
            card.image for card in header.cards if card.keyword not in _VARYING and card.keyword not in _STRUCTURE
        )
        _CONSTANT_CARDS[key] = images
        if len(_CONSTANT_CARDS) > 256:
            _CONSTANT_CARDS.popitem(last=False)
    return images


def fits_bytes(cutout: Cutout) -> bytes:
    """The cutout as a FITS file (the header of :func:`cutout_header`, the pixels as float).

    Written directly rather than through ``PrimaryHDU.writeto``: astropy builds
    and verifies ~40 header cards per file, which costs more than the cut
    itself; here the cards shared by all cutouts of a map HDU are formatted
    once and only the nine that vary are formatted per cutout. The result reads
    back identical (see the tests).
    """
    data = cutout.data
    if data.dtype.kind != "f":
        data = data.astype(np.float32)
    bitpix = -8 * data.dtype.itemsize
    ny, nx = data.shape
    target = cutout.target
    crpix = cutout.wcs.wcs.crpix
    cards = [
        fits.Card("SIMPLE", True, "conforms to FITS standard"),
        fits.Card("BITPIX", bitpix, "array data type"),
        fits.Card("NAXIS", 2, "number of array dimensions"),
        fits.Card("NAXIS1", nx),
        fits.Card("NAXIS2", ny),
        fits.Card("CRPIX1", float(crpix[0]), "Pixel coordinate of reference point"),
        fits.Card("CRPIX2", float(crpix[1]), "Pixel coordinate of reference point"),
    ]
    tail = [
        fits.Card("ORIGX0", cutout.origin[0], "source-map pixel (0-based) at cutout x=0"),
        fits.Card("ORIGY0", cutout.origin[1], "source-map pixel (0-based) at cutout y=0"),
    ]
    if target.name:
        name = fits_text(target.name)
        tail.append(fits.Card("CUTNAME", name, "position name" if len(name) + 13 < 60 else ""))
    tail += [
        fits.Card("CUTRA", target.ra, "[deg] requested centre, ICRS"),
        fits.Card("CUTDEC", target.dec, "[deg] requested centre, ICRS"),
        fits.Card("CUTPOS", target.pos),
        fits.Card("CUTPART", cutout.partial, "partial overlap, padded with NaN"),
    ]
    text = "".join(c.image for c in cards) + _constant_cards(cutout) + "".join(c.image for c in tail)
    text += "END".ljust(80)
    head = text.ljust(-(-len(text) // _BLOCK) * _BLOCK).encode("ascii")
    body = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder(">")).tobytes()
    return head + body + b"\0" * (-len(body) % _BLOCK)


def write_fits(cutout: Cutout, destination: Path | IO[bytes]) -> None:
    data = fits_bytes(cutout)
    if isinstance(destination, Path):
        destination.write_bytes(data)
    else:
        destination.write(data)


def _limits(data: np.ndarray, scaling: Scaling) -> tuple[float, float, Any]:
    from astropy.visualization import (
        AsinhStretch,
        LinearStretch,
        MinMaxInterval,
        PercentileInterval,
        ZScaleInterval,
    )

    finite = data[np.isfinite(data)]
    stretch: Any = LinearStretch()
    interval: Any
    if scaling == "zscale":
        interval = ZScaleInterval()
    elif scaling == "asinh":
        # Percentile limits keep one bright source from flattening the noise;
        # asinh then shows both the noise and the source core.
        interval, stretch = PercentileInterval(99.5), AsinhStretch(a=0.1)
    else:
        interval = MinMaxInterval()
    if finite.size == 0:
        return 0.0, 1.0, stretch
    vmin, vmax = (float(v) for v in interval.get_limits(finite))
    if not vmax > vmin:
        vmin, vmax = vmin - 0.5, vmin + 0.5
    return vmin, vmax, stretch


def render_png(
    cutout: Cutout,
    *,
    scaling: Scaling = "zscale",
    colormap: str = "gray",
    axes: bool = False,
) -> bytes:
    """A PNG of the cutout (north up as in the map, blank pixels transparent).

    Without ``axes`` the image is the pixels themselves (enlarged by an integer
    factor when small); with ``axes`` a WCSAxes figure with RA/Dec labels, a
    colour bar in the map's units and the position name as title.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from astropy.visualization import ImageNormalize
    from matplotlib.figure import Figure

    vmin, vmax, stretch = _limits(cutout.data, scaling)
    norm = ImageNormalize(vmin=vmin, vmax=vmax, stretch=stretch, clip=True)
    cmap = matplotlib.colormaps[colormap].with_extremes(bad=(0.0, 0.0, 0.0, 0.0))
    buffer = io.BytesIO()
    if not axes:
        finite = np.isfinite(cutout.data)
        # ImageNormalize(clip=True) fills masked values, so blanks are set
        # transparent after the colour map rather than through a masked array.
        rgba = cmap(np.asarray(norm(np.where(finite, cutout.data, vmin))), bytes=True)
        rgba[~finite] = 0
        rgba = rgba[::-1]  # FITS rows go up, PNG rows go down
        factor = max(1, math.ceil(MIN_PNG_PIXELS / max(rgba.shape[:2])))
        if factor > 1:
            rgba = np.repeat(np.repeat(rgba, factor, axis=0), factor, axis=1)
        from PIL import Image

        Image.fromarray(np.ascontiguousarray(rgba), mode="RGBA").save(buffer, format="png")
        return buffer.getvalue()
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    # A Figure of its own (not pyplot): no global state, safe in threads.
    figure = Figure(figsize=(6.4, 5.6), dpi=100)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot(projection=cutout.wcs)
    image = ax.imshow(cutout.data, origin="lower", cmap=cmap, norm=norm, interpolation="nearest")
    ax.coords[0].set_axislabel("RA (ICRS)")
    ax.coords[1].set_axislabel("Dec (ICRS)")
    ax.coords[0].set_major_formatter("hh:mm:ss")
    ax.coords[1].set_major_formatter("dd:mm")
    band = f" {cutout.entry.band} GHz" if cutout.entry.band is not None else ""
    ax.set_title(f"{cutout.target.name} — {cutout.entry.map}{band}", fontsize=10)
    figure.colorbar(image, ax=ax, label=cutout.entry.bunit or "")
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
