"""The map catalogue: its JSON document (``catalogue.json``) and matching positions to the HDUs covering them.

``Catalogue.match(ra, dec, radius, ...)`` answers "which HDUs cover this
box?" from the JSON alone: a vectorised angular-distance test against each cap
discards most HDUs, and the survivors are checked exactly by projecting the box
into their pixel grid with the stored WCS. No map file is opened to match.

Building and loading a catalogue is in ``maps`` (a directory: ``dir_catalogue``;
an S3 prefix: ``s3_catalogue``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spt_api.services.errors import FatalJobError
from workers.services.cutout.map_entry import MapEntry
from workers.services.cutout.sky import angular_distance

if TYPE_CHECKING:
    from workers.services.cutout.s3_location import S3Location

__all__ = [
    "CATALOGUE_NAME",
    "FITS_SUFFIXES",
    "Catalogue",
    "catalogue_document",
    "check_catalogue_document",
]

CATALOGUE_NAME = "catalogue.json"
CATALOGUE_FORMAT = "spt-api-map-catalogue"
CATALOGUE_VERSION = 1
FITS_SUFFIXES = (".fits", ".fit", ".fts")


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
        near = index[angular_distance(ra, dec, self._centers[index, 0], self._centers[index, 1]) <= reach]
        found: list[tuple[bool, int, int, MapEntry]] = []
        for i in near:
            entry = self.entries[int(i)]
            overlaps, inside = entry.placement(ra, dec, width, height)
            if overlaps:
                found.append((not inside, entry.band or 0, int(i), entry))
        found.sort(key=lambda item: item[:3])
        return [item[3] for item in found]
