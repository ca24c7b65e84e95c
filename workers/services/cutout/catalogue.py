"""The map catalogue: which FITS map HDU covers which part of the sky.

``build_catalogue(directory)`` opens every FITS file under ``directory`` once and
writes ``catalogue.json`` beside the maps, one entry per 2-D celestial image HDU:
file, HDU index, band, map/field name, units, the WCS header, the shape and the
footprint (boundary polygon, bounding box, and a centre + radius cap).

``Catalogue.match(ra, dec, radius, ...)`` then answers "which HDUs cover this
box?" from the JSON alone: a vectorised angular-distance test against each cap
discards most HDUs, and the survivors are checked exactly by projecting the box
into their pixel grid with the stored WCS. No map file is opened to match.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning
from astropy.wcs.utils import proj_plane_pixel_scales

from spt_api.services.errors import FatalJobError
from workers.services.cutout.params import BANDS

if TYPE_CHECKING:
    from workers.services.cutout.maps_s3 import S3Location

__all__ = [
    "CATALOGUE_NAME",
    "Catalogue",
    "MapEntry",
    "build_catalogue",
    "catalogue_document",
    "check_catalogue_document",
    "entry_for_hdu",
    "is_s3",
    "load_catalogue",
    "parse_band_value",
    "pixel_box",
]

CATALOGUE_NAME = "catalogue.json"
CATALOGUE_FORMAT = "spt-api-map-catalogue"
CATALOGUE_VERSION = 1
FITS_SUFFIXES = (".fits", ".fit", ".fts")
#: Boundary samples per map edge: enough for the footprint of a ZEA or CAR map
#: (their edges curve on the sky) to be drawn and bounded to well under a pixel.
EDGE_SAMPLES = 16
#: Header keywords read for the band, in order of trust.
BAND_KEYWORDS = ("BAND", "FREQ", "FREQUENCY", "BANDPASS", "FILTER", "CHANNEL")
MAP_KEYWORDS = ("MAPNAME", "FIELD", "OBJECT")
#: Relative distance within which a frequency is read as a nominal band (93.5 → 95).
BAND_TOLERANCE = 0.15


def parse_band_value(value: Any) -> int | None:
    """Read a band from a header value: ``150``, ``"150GHz"``, ``"f150"``, ``1.5e11`` (Hz), ``"90"``.

    Returns the nominal SPT-3G band when the frequency is within 15 % of one,
    else the frequency rounded to GHz; ``None`` when there is no number.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    else:
        match = re.search(r"(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*(ghz|mhz|hz)?", str(value).lower())
        if match is None:
            return None
        number = float(match.group(1))
        unit = match.group(2)
        if unit == "mhz":
            number /= 1e3
        elif unit == "hz":
            number /= 1e9
    if number > 1e6:  # a frequency in Hz
        number /= 1e9
    if number <= 0:
        return None
    nominal = min(BANDS, key=lambda band: abs(band - number))
    if abs(nominal - number) <= BAND_TOLERANCE * nominal:
        return nominal
    return round(number)


def _band_from(header: fits.Header, *fallbacks: str) -> int | None:
    for key in BAND_KEYWORDS:
        if key in header:
            band = parse_band_value(header[key])
            if band is not None:
                return band
    for text in fallbacks:
        match = re.search(r"(?<![0-9.])(?:f)?(90|95|150|220)(?:ghz)?(?![0-9])", text.lower())
        if match:
            return parse_band_value(match.group(1))
    return None


def _header_value(headers: Sequence[fits.Header], keys: Iterable[str]) -> str | None:
    for key in keys:
        for header in headers:
            value = header.get(key)
            if value not in (None, ""):
                return str(value).strip()
    return None


def _json_value(value: Any) -> Any:
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _angular_distance(ra1: Any, dec1: Any, ra2: Any, dec2: Any) -> Any:
    """Great-circle distance in degrees (haversine: exact for small separations too)."""
    ra1, dec1, ra2, dec2 = (np.radians(v) for v in (ra1, dec1, ra2, dec2))
    h = np.sin((dec2 - dec1) / 2) ** 2 + np.cos(dec1) * np.cos(dec2) * np.sin((ra2 - ra1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))


def _world_to_pixel(wcs: WCS, ra: float, dec: float) -> tuple[float, float]:
    # wcs_world2pix (wcslib only) unless the map carries distortions: the maps we
    # serve have none, and this path is several times faster than all_world2pix.
    coords = np.array([[ra, dec]], dtype=float)
    if wcs.has_distortion:
        x, y = wcs.all_world2pix(coords, 0)[0]
    else:
        x, y = wcs.wcs_world2pix(coords, 0)[0]
    return float(x), float(y)


def pixel_box(wcs: WCS, ra: float, dec: float, width: float, height: float) -> tuple[float, float, int, int]:
    """Project a ``width`` x ``height`` degree box centred on ``ra, dec`` into ``wcs``'s pixels.

    Returns ``(x, y, nx, ny)``: the centre (0-based pixel coordinates) and an odd
    pixel size covering the box. The size comes from the local Jacobian of the
    projection, so it is right away from the reference point too (a CAR map at
    dec -60 needs twice as many pixels in x for the same width on the sky).
    Raises ``ValueError`` when the position is outside the projection's domain.
    """
    x0, y0 = _world_to_pixel(wcs, ra, dec)
    if not (math.isfinite(x0) and math.isfinite(y0)):
        raise ValueError(f"ra={ra:g}, dec={dec:g} cannot be projected into this map")
    step = 1e-3  # degrees: small against any box, large against float64 noise
    north = step if dec + step <= 90 else -step
    xn, yn = _world_to_pixel(wcs, ra, dec + north)
    xe, ye = _world_to_pixel(wcs, ra + step / max(math.cos(math.radians(dec)), 1e-6), dec)
    # Pixels per degree along east and north on the sky.
    ex, ey = (xe - x0) / step, (ye - y0) / step
    nx_, ny_ = (xn - x0) / north, (yn - y0) / north
    extent_x = abs(ex) * width + abs(nx_) * height
    extent_y = abs(ey) * width + abs(ny_) * height
    if not (math.isfinite(extent_x) and math.isfinite(extent_y)):
        raise ValueError(f"ra={ra:g}, dec={dec:g} is at a singular point of this map's projection")
    # Odd sizes put the requested position on the central pixel of the cutout.
    # The epsilon keeps float noise (1e-12 px of cross-term on a CAR grid) from
    # adding two pixels to an exact size.
    nx = 2 * math.ceil(extent_x / 2 - 1e-6) + 1
    ny = 2 * math.ceil(extent_y / 2 - 1e-6) + 1
    return x0, y0, nx, ny


@dataclass
class MapEntry:
    """One 2-D celestial image HDU of the catalogue."""

    file: str
    hdu: int
    band: int | None
    map: str
    shape: tuple[int, int]
    wcs_header: dict[str, Any]
    center: tuple[float, float]
    radius: float
    bbox: tuple[float, float, float, float]
    footprint: list[tuple[float, float]]
    pixel_scale_arcmin: float
    bunit: str = ""
    extname: str = ""
    field: str = ""
    release: str = ""
    projection: str = ""
    size: int = 0
    mtime: float = 0.0
    #: Byte offsets of the HDU's header and data in the file (-1: unknown, a
    #: catalogue written before they were recorded). Ranged reads from S3 need them.
    header_offset: int = -1
    data_offset: int = -1
    root: Path = dataclass_field(default=Path("."), repr=False, compare=False)
    #: Where the maps are when they are on S3 (``None``: files under ``root``).
    store: S3Location | None = dataclass_field(default=None, repr=False, compare=False)

    @property
    def path(self) -> Path:
        """The local file (meaningless for a map on S3: see :attr:`location`)."""
        return self.root / self.file

    @property
    def location(self) -> str:
        """The map file's path or ``s3://`` URL, for messages and cache keys."""
        if self.store is not None:
            return self.store.url_for(self.file)
        return str(self.path)

    @property
    def key(self) -> str:
        """Stable id of the HDU: ``file[hdu]``."""
        return f"{self.file}[{self.hdu}]"

    @cached_property
    def wcs(self) -> WCS:
        """The WCS, rebuilt once from the stored header (no file access)."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            return WCS(fits.Header(self.wcs_header), naxis=2)

    def names(self) -> set[str]:
        """Names a ``map``/``ID`` filter may use for this HDU (compared case-insensitively)."""
        names = {self.map, self.field, self.release, self.file, Path(self.file).stem, self.extname, self.key}
        if self.release and self.field:
            names.add(f"{self.release}/{self.field}")
        return {n.lower() for n in names if n}

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "hdu": self.hdu,
            "extname": self.extname,
            "band": self.band,
            "map": self.map,
            "field": self.field,
            "release": self.release,
            "bunit": self.bunit,
            "projection": self.projection,
            "shape": list(self.shape),
            "pixel_scale_arcmin": self.pixel_scale_arcmin,
            "center": list(self.center),
            "radius": self.radius,
            "bbox": list(self.bbox),
            "footprint": [list(p) for p in self.footprint],
            "size": self.size,
            "mtime": self.mtime,
            "header_offset": self.header_offset,
            "data_offset": self.data_offset,
            "wcs": self.wcs_header,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], root: Path, store: S3Location | None = None) -> MapEntry:
        return cls(
            file=data["file"],
            hdu=int(data["hdu"]),
            band=data.get("band"),
            map=data["map"],
            shape=(int(data["shape"][0]), int(data["shape"][1])),
            wcs_header=data["wcs"],
            center=(float(data["center"][0]), float(data["center"][1])),
            radius=float(data["radius"]),
            bbox=(float(data["bbox"][0]), float(data["bbox"][1]), float(data["bbox"][2]), float(data["bbox"][3])),
            footprint=[(float(p[0]), float(p[1])) for p in data["footprint"]],
            pixel_scale_arcmin=float(data["pixel_scale_arcmin"]),
            bunit=data.get("bunit", ""),
            extname=data.get("extname", ""),
            field=data.get("field", ""),
            release=data.get("release", ""),
            projection=data.get("projection", ""),
            size=int(data.get("size", 0)),
            mtime=float(data.get("mtime", 0.0)),
            header_offset=int(data.get("header_offset", -1)),
            data_offset=int(data.get("data_offset", -1)),
            root=root,
            store=store,
        )

    def placement(self, ra: float, dec: float, width: float, height: float) -> tuple[bool, bool]:
        """Whether the box touches at least one pixel of this HDU, and whether its centre pixel does
        (exact, in pixel space; one projection serves both)."""
        try:
            x, y, nx, ny = pixel_box(self.wcs, ra, dec, width, height)
        except ValueError:
            return False, False
        return self._touches(x, y, nx, ny), self._touches(x, y, 1, 1)

    def _touches(self, x: float, y: float, nx: int, ny: int) -> bool:
        rows, cols = self.shape
        return (x + nx / 2 >= -0.5 and x - nx / 2 <= cols - 0.5) and (y + ny / 2 >= -0.5 and y - ny / 2 <= rows - 0.5)


def _boundary(shape: tuple[int, int]) -> np.ndarray:
    rows, cols = shape
    xs = np.linspace(-0.5, cols - 0.5, EDGE_SAMPLES + 1)
    ys = np.linspace(-0.5, rows - 0.5, EDGE_SAMPLES + 1)
    # Counter-clockwise in pixel space: bottom, right, top, left.
    return np.concatenate(
        [
            np.column_stack([xs[:-1], np.full(EDGE_SAMPLES, ys[0])]),
            np.column_stack([np.full(EDGE_SAMPLES, xs[-1]), ys[:-1]]),
            np.column_stack([xs[::-1][:-1], np.full(EDGE_SAMPLES, ys[-1])]),
            np.column_stack([np.full(EDGE_SAMPLES, xs[0]), ys[::-1][:-1]]),
        ]
    )


def _footprint(wcs: WCS, shape: tuple[int, int]) -> dict[str, Any]:
    rows, cols = shape
    edge = wcs.wcs_pix2world(_boundary(shape), 0)
    edge = edge[np.all(np.isfinite(edge), axis=1)]
    center = wcs.wcs_pix2world(np.array([[(cols - 1) / 2, (rows - 1) / 2]]), 0)[0]
    ra_c, dec_c = round(float(center[0]) % 360.0, 9), round(float(center[1]), 9)
    ras, decs = edge[:, 0] % 360.0, edge[:, 1]
    radius = float(np.max(_angular_distance(ra_c, dec_c, ras, decs))) if len(edge) else 180.0
    # RA bounds measured from the centre so that a map across RA 0 gets
    # ra_min > ra_max (the convention of a wrapped range) instead of 0..360.
    offsets = (ras - ra_c + 180.0) % 360.0 - 180.0
    if radius >= 90.0 or (len(decs) and (decs.max() >= 89.9 or decs.min() <= -89.9)):
        bbox = (0.0, 360.0, float(decs.min(initial=-90.0)), float(decs.max(initial=90.0)))
    else:
        bbox = (
            float((ra_c + offsets.min()) % 360.0),
            float((ra_c + offsets.max()) % 360.0),
            float(decs.min()),
            float(decs.max()),
        )
    # Half a pixel of margin: the boundary samples are pixel edges, not centres.
    scale = float(np.mean(proj_plane_pixel_scales(wcs))) if len(edge) else 0.0
    return {
        "center": (ra_c, dec_c),
        "radius": radius + scale,
        "bbox": bbox,
        "footprint": [(round(float(r), 6), round(float(d), 6)) for r, d in zip(ras, decs, strict=True)],
    }


def entry_for_hdu(
    index: int,
    header: fits.Header,
    primary: fits.Header,
    *,
    file: str,
    size: int,
    mtime: float,
    root: Path,
    header_offset: int = -1,
    data_offset: int = -1,
    store: S3Location | None = None,
) -> MapEntry | None:
    """The catalogue entry of one image HDU (``header``), or ``None`` when it is not a 2-D celestial map.

    Shared by the directory scan (astropy reads the file) and the S3 scan
    (headers read by ranged requests), so both index a map identically.
    """
    if header.get("NAXIS", 0) < 2:
        return None
    extra_axes = [header.get(f"NAXIS{i}", 1) for i in range(3, header["NAXIS"] + 1)]
    if any(n != 1 for n in extra_axes):
        return None  # a cube: not a map (Stokes planes would need a parameter)
    wcs = WCS(header, naxis=2)
    if not wcs.has_celestial or wcs.celestial.naxis != 2:
        return None
    wcs = wcs.celestial
    name = PurePosixPath(file).name
    shape = (int(header["NAXIS2"]), int(header["NAXIS1"]))
    extname = str(header.get("EXTNAME", "") or "")
    band = _band_from(header, extname, name) if index else _band_from(header, name)
    if band is None and index:
        band = _band_from(primary)
    headers = [header, primary] if index else [header]
    field_name = _header_value(headers, ("FIELD",)) or ""
    map_name = _header_value(headers, MAP_KEYWORDS) or PurePosixPath(name).stem
    wcs_header = {k: _json_value(v) for k, v in wcs.to_header(relax=True).items() if k}
    return MapEntry(
        file=file,
        hdu=index,
        band=band,
        map=map_name,
        shape=shape,
        wcs_header=wcs_header,
        pixel_scale_arcmin=float(np.mean(proj_plane_pixel_scales(wcs))) * 60.0,
        bunit=str(header.get("BUNIT", primary.get("BUNIT", "")) or ""),
        extname=extname,
        field=field_name,
        release=_header_value(headers, ("RELEASE",)) or "",
        projection=wcs.wcs.ctype[0][-3:],
        size=size,
        mtime=mtime,
        header_offset=header_offset,
        data_offset=data_offset,
        root=root,
        store=store,
        **_footprint(wcs, shape),
    )


def _scan_file(path: Path, root: Path) -> list[MapEntry]:
    import warnings

    entries: list[MapEntry] = []
    stat = path.stat()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        with fits.open(path, memmap=True, lazy_load_hdus=True) as hdul:
            primary = hdul[0].header
            for index, hdu in enumerate(hdul):
                if not isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU):
                    continue
                info = hdul.fileinfo(index) or {}
                entry = entry_for_hdu(
                    index,
                    hdu.header,
                    primary,
                    file=path.relative_to(root).as_posix(),
                    size=stat.st_size,
                    mtime=stat.st_mtime,
                    root=root,
                    header_offset=int(info.get("hdrLoc", -1)),
                    data_offset=int(info.get("datLoc", -1)),
                )
                if entry is not None:
                    entries.append(entry)
    return entries


def _fits_files(directory: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.lower().endswith(FITS_SUFFIXES) and not name.startswith("."):
                yield Path(dirpath) / name


def is_s3(location: object) -> bool:
    """Whether ``location`` (a path, a URL or an :class:`S3Location`) names maps on S3."""
    from workers.services.cutout.maps_s3 import S3Location

    return isinstance(location, S3Location) or (isinstance(location, str) and location.startswith("s3://"))


def catalogue_document(entries: Sequence[MapEntry], skipped: Sequence[dict[str, str]]) -> dict[str, Any]:
    """The JSON document of a catalogue (the same layout for a directory and an S3 prefix)."""
    return {
        "format": CATALOGUE_FORMAT,
        "version": CATALOGUE_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "entries": [e.to_json() for e in entries],
        "skipped": list(skipped),
    }


def check_catalogue_document(document: Any, where: str) -> list[dict[str, Any]]:
    """The entries of a parsed ``catalogue.json``; ``FatalJobError`` when it is not one of ours."""
    if (
        not isinstance(document, dict)
        or document.get("format") != CATALOGUE_FORMAT
        or document.get("version") != CATALOGUE_VERSION
    ):
        raise FatalJobError(f"{where} is not a version {CATALOGUE_VERSION} map catalogue: rebuild it")
    entries: list[dict[str, Any]] = document["entries"]
    return entries


def build_catalogue(directory: Path | str | S3Location) -> Path | str:
    """Index every FITS map under ``directory``; write and return ``directory/catalogue.json``.

    Files that are not readable FITS are skipped with a note in the catalogue
    (``skipped``), so one broken file does not hide the others. ``directory``
    may be an ``s3://bucket/prefix`` URL or an :class:`S3Location`: the headers
    are then read by ranged requests and the catalogue is written under the
    prefix; the ``s3://`` URL of ``catalogue.json`` is returned.
    """
    if is_s3(directory):
        from workers.services.cutout.maps_s3 import S3Location, build_s3_catalogue

        return build_s3_catalogue(S3Location.coerce(directory))
    directory = Path(str(directory)).resolve()
    entries: list[MapEntry] = []
    skipped: list[dict[str, str]] = []
    for path in _fits_files(directory):
        try:
            entries.extend(_scan_file(path, directory))
        except (OSError, ValueError, KeyError) as exc:
            skipped.append({"file": path.relative_to(directory).as_posix(), "reason": str(exc)})
    document = catalogue_document(entries, skipped)
    target = directory / CATALOGUE_NAME
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=1))
    tmp.replace(target)  # atomic: a worker reading the catalogue never sees half a file
    return target


class Catalogue:
    """The entries of one ``catalogue.json`` with fast matching."""

    def __init__(
        self,
        directory: Path | S3Location,
        entries: list[MapEntry],
        skipped: Sequence[dict[str, str]] = (),
    ) -> None:
        self.directory = directory
        self.entries = entries
        #: Files (or HDUs) the index refused, with the reason: ``{"file": ..., "reason": ...}``.
        self.skipped = list(skipped)
        self._centers = np.array([e.center for e in entries], dtype=float).reshape(-1, 2)
        self._radii = np.array([e.radius for e in entries], dtype=float)

    def bands(self) -> list[int]:
        return sorted({e.band for e in self.entries if e.band is not None})

    def map_names(self) -> list[str]:
        return sorted({e.map for e in self.entries})

    def select(self, bands: Sequence[int] | None = None, maps: Sequence[str] | None = None) -> list[int]:
        """Indices of the entries passing the band and map filters."""
        wanted = {m.lower() for m in maps} if maps else None
        return [
            i
            for i, e in enumerate(self.entries)
            if (not bands or e.band in bands) and (wanted is None or not wanted.isdisjoint(e.names()))
        ]

    def match(
        self,
        ra: float,
        dec: float,
        radius: float,
        bands: Sequence[int] | None = None,
        maps: Sequence[str] | None = None,
        *,
        width: float | None = None,
        height: float | None = None,
    ) -> list[MapEntry]:
        """The HDUs overlapping the box centred on ``ra, dec`` (degrees).

        The box is ``2 * radius`` on a side unless ``width``/``height`` say
        otherwise. Entries covering the centre come first, then by band.
        """
        width = 2 * radius if width is None else width
        height = 2 * radius if height is None else height
        candidates = self.select(bands, maps)
        if not candidates:
            return []
        index = np.array(candidates)
        reach = self._radii[index] + math.hypot(width, height) / 2
        near = index[_angular_distance(ra, dec, self._centers[index, 0], self._centers[index, 1]) <= reach]
        found: list[tuple[bool, int, int, MapEntry]] = []
        for i in near:
            entry = self.entries[int(i)]
            overlaps, inside = entry.placement(ra, dec, width, height)
            if overlaps:
                found.append((not inside, entry.band or 0, int(i), entry))
        found.sort(key=lambda item: item[:3])
        return [item[3] for item in found]


_CACHE: dict[Path, tuple[float, Catalogue]] = {}
_CACHE_LOCK = threading.Lock()


def load_catalogue(directory: Path | str | S3Location, *, build_if_missing: bool = True) -> Catalogue:
    """Read ``catalogue.json`` of ``directory`` (cached per process while the file is unchanged).

    ``directory`` may be an ``s3://`` URL or an :class:`S3Location` (see
    :func:`workers.services.cutout.maps_s3.load_s3_catalogue`).

    Raises
    ------
    FatalJobError
        When there is no catalogue (and ``build_if_missing`` is false), or it is unreadable.
    """
    if is_s3(directory):
        from workers.services.cutout.maps_s3 import S3Location, load_s3_catalogue

        return load_s3_catalogue(S3Location.coerce(directory), build_if_missing=build_if_missing)
    directory = Path(str(directory)).resolve()
    path = directory / CATALOGUE_NAME
    if not path.exists():
        if not build_if_missing or not directory.is_dir():
            raise FatalJobError(f"no map catalogue at {path}: run 'spt-api maps index {directory}'")
        try:
            build_catalogue(directory)
        except OSError as exc:  # a read-only maps volume
            raise FatalJobError(f"no map catalogue at {path} and none can be written there: {exc}") from exc
    mtime = path.stat().st_mtime
    with _CACHE_LOCK:
        cached = _CACHE.get(directory)
        if cached and cached[0] == mtime:
            return cached[1]
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise FatalJobError(f"unreadable map catalogue {path}: {exc}") from exc
    entries = check_catalogue_document(document, str(path))
    catalogue = Catalogue(
        directory, [MapEntry.from_json(e, directory) for e in entries], skipped=document.get("skipped") or []
    )
    with _CACHE_LOCK:
        _CACHE[directory] = (mtime, catalogue)
    return catalogue
