"""One catalogue entry: a 2-D celestial image HDU of a map file, and how it is read from the HDU's header.

Shared by the directory scan (astropy reads the file) and the S3 scan
(headers read by ranged requests), so both index a map identically.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning
from astropy.wcs.utils import proj_plane_pixel_scales

from workers.services.cutout.bands import parse_band_value
from workers.services.cutout.sky import footprint, pixel_box

if TYPE_CHECKING:
    from workers.services.cutout.s3_location import S3Location

__all__ = ["BAND_KEYWORDS", "MAP_KEYWORDS", "MapEntry", "entry_for_hdu"]

#: Header keywords read for the band, in order of trust.
BAND_KEYWORDS = ("BAND", "FREQ", "FREQUENCY", "BANDPASS", "FILTER", "CHANNEL")
MAP_KEYWORDS = ("MAPNAME", "FIELD", "OBJECT")


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
        **footprint(wcs, shape),
    )
