"""Rendering a cutout as PNG: the pixels themselves, or a figure with RA/Dec axes and a colour bar."""

from __future__ import annotations

import io
import math
from typing import Any, Literal

import numpy as np

from workers.services.cutout.cut import Cutout

__all__ = ["MIN_PNG_PIXELS", "Scaling", "render_png"]

#: PNGs smaller than this (pixels on the long side) are enlarged by an integer
#: factor, nearest neighbour, so that a 5' stamp of 11 pixels is visible in a
#: browser without resampling the data.
MIN_PNG_PIXELS = 256

Scaling = Literal["linear", "asinh", "zscale"]


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
