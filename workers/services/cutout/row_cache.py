"""Bands of full-width map rows kept by one S3 reader, so later cutouts that fall inside them cost no GET.

A job's positions are often near each other (a cluster's members, a sorted
catalogue): the rows fetched for one cutout frequently hold the next. The
cache is bounded in bytes and in bands (each lookup scans them), least
recently used first out.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

__all__ = ["BAND_CACHE_BYTES", "BAND_CACHE_COUNT", "RowBandCache"]

#: Row bands kept by one reader for later cutouts that fall inside them.
BAND_CACHE_BYTES = 32 * 1024 * 1024
#: ... and at most this many (each lookup scans them).
BAND_CACHE_COUNT = 64


class RowBandCache:
    """Row bands of map HDUs, keyed by ``(map location, HDU, first row)``; not thread-safe (one per reader)."""

    def __init__(self, max_bytes: int = BAND_CACHE_BYTES, max_count: int = BAND_CACHE_COUNT) -> None:
        self.max_bytes = max_bytes
        self.max_count = max_count
        self._bands: OrderedDict[tuple[str, int, int], np.ndarray] = OrderedDict()
        self._bytes = 0

    def find(self, location: str, hdu: int, row: int) -> tuple[int, np.ndarray] | None:
        """A cached band holding ``row`` of that HDU, with its first row; ``None`` when none does."""
        for key, band in self._bands.items():
            cached_location, cached_hdu, first = key
            if cached_location == location and cached_hdu == hdu and first <= row < first + band.shape[0]:
                self._bands.move_to_end(key)
                return first, band
        return None

    def remember(self, location: str, hdu: int, first: int, band: np.ndarray) -> None:
        """Keep ``band`` (rows from ``first``), unless it alone would take over a quarter of the cache."""
        if band.nbytes > self.max_bytes // 4:
            return
        self._bands[(location, hdu, first)] = band
        self._bytes += band.nbytes
        while self._bytes > self.max_bytes or len(self._bands) > self.max_count:
            _, old = self._bands.popitem(last=False)
            self._bytes -= old.nbytes

    def clear(self) -> None:
        self._bands.clear()
        self._bytes = 0
