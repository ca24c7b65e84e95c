"""Sky geometry of a map's pixel grid: projecting a box into pixels, and a grid's footprint on the sky."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales

__all__ = ["EDGE_SAMPLES", "angular_distance", "footprint", "pixel_box"]

#: Boundary samples per map edge: enough for the footprint of a ZEA or CAR map
#: (their edges curve on the sky) to be drawn and bounded to well under a pixel.
EDGE_SAMPLES = 16


def angular_distance(ra1: Any, dec1: Any, ra2: Any, dec2: Any) -> Any:
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


def footprint(wcs: WCS, shape: tuple[int, int]) -> dict[str, Any]:
    rows, cols = shape
    edge = wcs.wcs_pix2world(_boundary(shape), 0)
    edge = edge[np.all(np.isfinite(edge), axis=1)]
    center = wcs.wcs_pix2world(np.array([[(cols - 1) / 2, (rows - 1) / 2]]), 0)[0]
    ra_c, dec_c = round(float(center[0]) % 360.0, 9), round(float(center[1]), 9)
    ras, decs = edge[:, 0] % 360.0, edge[:, 1]
    radius = float(np.max(angular_distance(ra_c, dec_c, ras, decs))) if len(edge) else 180.0
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
