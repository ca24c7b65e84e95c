"""File names of cutouts: made from the position's and the map's names, never from paths."""

from __future__ import annotations

import re

from workers.services.cutout.map_entry import MapEntry
from workers.services.cutout.target import Target

__all__ = ["cutout_filename", "safe_name"]


def safe_name(text: str) -> str:
    """A file-name-safe form of a name (results are named by data, never paths)."""
    cleaned = re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("._")
    return cleaned[:100] or "x"


def cutout_filename(target: Target, entry: MapEntry, extension: str) -> str:
    band = f"{entry.band}GHz" if entry.band is not None else f"hdu{entry.hdu}"
    return f"{safe_name(target.name)}_{safe_name(entry.map)}_{band}.{extension}"
