"""Synthetic SPT-3G-like maps for tests, demos (``make run``) and benchmarks.

Three fields, three bands (95, 150, 220 GHz), white noise at SPT-3G-like depths
plus Gaussian-beam point sources at known positions with known amplitudes.
The fields exercise the header conventions the catalogue must understand:

=================  ==========  =====================================================
field              projection  layout
=================  ==========  =====================================================
ra0hdec-59.75      ZEA         one multi-extension file, ``BAND = '95GHz'`` per HDU
ra0hdec-44.75      ZEA         one file per band, ``FREQ`` in GHz in the primary HDU
ra5hdec-29.75      CAR         one multi-extension file, ``FREQ`` in Hz per HDU
=================  ==========  =====================================================

The two ``ra0`` fields straddle RA 0 (as the SPT-3G main field does). Every
source is written to ``sources.json`` with its position and, per band, its
peak (map units) and integrated flux (map units x arcmin^2), so a test can cut
at a source and check the peak pixel and the flux.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from workers.services.cutout.maps import build_catalogue

__all__ = ["BEAM_FWHM_ARCMIN", "DEPTH_UK_ARCMIN", "FIELDS", "SOURCES_NAME", "make_demo_maps"]

SOURCES_NAME = "sources.json"
RELEASE = "demo-v1"
BUNIT = "uK"
#: Noise depth of each band (uK-arcmin), about that of the SPT-3G main field.
DEPTH_UK_ARCMIN = {95: 6.0, 150: 5.0, 220: 18.0}
#: Beam FWHM per band (arcmin).
BEAM_FWHM_ARCMIN = {95: 1.6, 150: 1.2, 220: 1.1}
#: Distance kept between a source and the map edge (pixels), so a default-size
#: cutout around any source lies fully inside its map.
EDGE_MARGIN_PX = 40


@dataclass(frozen=True)
class DemoField:
    name: str
    projection: str
    ra: float
    dec: float
    layout: str  # "mef-band", "files-freq-ghz" or "mef-freq-hz"


FIELDS: tuple[DemoField, ...] = (
    DemoField("ra0hdec-59.75", "ZEA", 0.0, -59.75, "mef-band"),
    DemoField("ra0hdec-44.75", "ZEA", 0.0, -44.75, "files-freq-ghz"),
    DemoField("ra5hdec-29.75", "CAR", 75.0, -29.75, "mef-freq-hz"),
)


def _wcs(field: DemoField, npix: int, pixel_arcmin: float) -> WCS:
    wcs = WCS(naxis=2)
    scale = pixel_arcmin / 60.0
    wcs.wcs.ctype = [f"RA---{field.projection}", f"DEC--{field.projection}"]
    wcs.wcs.cdelt = [-scale, scale]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.radesys = "ICRS"
    centre = (npix + 1) / 2  # FITS pixels are 1-based
    if field.projection == "CAR":
        # Plate carree proper: reference on the equator, the map shifted down to
        # its field (an oblique CAR with CRVAL2 != 0 would not be equirectangular).
        wcs.wcs.crval = [field.ra, 0.0]
        wcs.wcs.crpix = [centre, centre - field.dec / scale]
    else:
        wcs.wcs.crval = [field.ra, field.dec]
        wcs.wcs.crpix = [centre, centre]
    return wcs


def _paint_source(image: np.ndarray, x: float, y: float, peak: float, sigma_px: float) -> None:
    half = math.ceil(6 * sigma_px)
    x0, x1 = max(0, math.floor(x) - half), min(image.shape[1], math.floor(x) + half + 1)
    y0, y1 = max(0, math.floor(y) - half), min(image.shape[0], math.floor(y) + half + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    image[y0:y1, x0:x1] += (peak * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma_px**2))).astype(image.dtype)


def _source_positions(rng: np.random.Generator, npix: int, count: int) -> np.ndarray:
    """Pixel positions on a jittered grid: sources well apart and away from the edges."""
    per_side = math.ceil(math.sqrt(count))
    cell = (npix - 2 * EDGE_MARGIN_PX) / per_side
    cells = rng.permutation(per_side * per_side)[:count]
    jitter = rng.uniform(0.25, 0.75, size=(count, 2))
    xs = EDGE_MARGIN_PX + (cells % per_side + jitter[:, 0]) * cell
    ys = EDGE_MARGIN_PX + (cells // per_side + jitter[:, 1]) * cell
    return np.column_stack([xs, ys])


def _band_header(field: DemoField, band: int, layout: str) -> dict[str, Any]:
    cards: dict[str, Any] = {
        "BUNIT": (BUNIT, "CMB temperature fluctuation"),
        "FIELD": (field.name, "SPT-3G field"),
        "RELEASE": (RELEASE, "map release"),
        "BEAMFWHM": (BEAM_FWHM_ARCMIN[band], "[arcmin] beam FWHM"),
    }
    if layout == "mef-band":
        cards["BAND"] = (f"{band}GHz", "observing band")
    elif layout == "mef-freq-hz":
        cards["FREQ"] = (band * 1e9, "[Hz] band centre")
    else:
        cards["FREQ"] = (float(band), "[GHz] band centre")
    return cards


def make_demo_maps(directory: Path, *, small: bool = False) -> list[Path]:
    """Write the demo maps, ``sources.json`` and ``catalogue.json`` into ``directory``.

    ``small=True``: 600 x 600 px at 0.5' (5 degrees, ~1.4 MB per band and field;
    tests). Default: 2400 x 2400 px at 0.25' (10 degrees, ~23 MB per band and
    field; benchmarks). Deterministic: the same call writes the same pixels.

    Returns the FITS files written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    npix, pixel_arcmin, count = (600, 0.5, 9) if small else (2400, 0.25, 64)
    written: list[Path] = []
    sources: list[dict[str, Any]] = []
    for field_index, field in enumerate(FIELDS):
        rng = np.random.default_rng(3000 + field_index)
        wcs = _wcs(field, npix, pixel_arcmin)
        positions = _source_positions(rng, npix, count)
        world = wcs.wcs_pix2world(positions, 0)
        # Peak at 150 GHz (uK) and a spectral index: radio sources fall with
        # frequency, dusty galaxies rise, as in the SPT source counts.
        peak150 = rng.uniform(400.0, 4000.0, size=count)
        alpha = np.where(rng.random(count) < 0.6, -0.7, 2.5)
        field_sources: list[dict[str, Any]] = []
        for i in range(count):
            field_sources.append(
                {
                    "name": f"{field.name}-src{i + 1:02d}",
                    "field": field.name,
                    "ra": float(world[i, 0]) % 360.0,
                    "dec": float(world[i, 1]),
                    "peak": {},
                    "flux": {},
                }
            )
        hdus: list[fits.ImageHDU | fits.PrimaryHDU] = []
        for band in (95, 150, 220):
            sigma_noise = DEPTH_UK_ARCMIN[band] / pixel_arcmin
            image = rng.standard_normal((npix, npix), dtype=np.float32) * np.float32(sigma_noise)
            sigma_beam_px = BEAM_FWHM_ARCMIN[band] / (2 * math.sqrt(2 * math.log(2))) / pixel_arcmin
            for i, (x, y) in enumerate(positions):
                peak = float(peak150[i] * (band / 150.0) ** alpha[i])
                _paint_source(image, float(x), float(y), peak, sigma_beam_px)
                field_sources[i]["peak"][str(band)] = peak
                field_sources[i]["flux"][str(band)] = peak * 2 * math.pi * (sigma_beam_px * pixel_arcmin) ** 2
            header = wcs.to_header()
            for key, value in _band_header(field, band, field.layout).items():
                header[key] = value
            header["NOISE"] = (sigma_noise, "[uK] white noise per pixel")
            if field.layout == "files-freq-ghz":
                path = directory / f"spt3g_{field.name}_{band}ghz.fits"
                fits.PrimaryHDU(image, header).writeto(path, overwrite=True)
                written.append(path)
            else:
                header["EXTNAME"] = f"T_{band}"
                hdus.append(fits.ImageHDU(image, header))
        if hdus:
            primary = fits.PrimaryHDU()
            primary.header["TELESCOP"] = "SPT"
            primary.header["INSTRUME"] = "SPT-3G"
            primary.header["FIELD"] = field.name
            primary.header["RELEASE"] = RELEASE
            path = directory / f"spt3g_{field.name}.fits"
            fits.HDUList([primary, *hdus]).writeto(path, overwrite=True)
            written.append(path)
        sources.extend(field_sources)
    document = {
        "release": RELEASE,
        "bunit": BUNIT,
        "pixel_scale_arcmin": pixel_arcmin,
        "shape": [npix, npix],
        "beam_fwhm_arcmin": {str(b): v for b, v in BEAM_FWHM_ARCMIN.items()},
        "noise_per_pixel": {str(b): d / pixel_arcmin for b, d in DEPTH_UK_ARCMIN.items()},
        "fields": [{"name": f.name, "projection": f.projection, "ra": f.ra, "dec": f.dec} for f in FIELDS],
        "sources": sources,
    }
    (directory / SOURCES_NAME).write_text(json.dumps(document, indent=1))
    build_catalogue(directory)
    return written
