"""Row bands requested ahead of the cut that needs them: GETs in flight while earlier positions are cut.

Maps on S3 cost one ranged GET per cutout, and a GET is mostly waiting. A job
asks for the rows of its next positions as soon as it has matched them; a
small thread pool fetches them while the current position is cut and written,
so the GETs overlap each other and the CPU work instead of following it one at
a time. The store is bounded in bytes: past the bound the oldest request (one
whose rows were never read, e.g. after an abort) is dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor, Future

import numpy as np

__all__ = ["PREFETCH_BYTES", "BandPrefetcher"]

#: Most bytes of row bands requested ahead (in flight or fetched, not yet read).
PREFETCH_BYTES = 32 * 1024 * 1024


class BandPrefetcher:
    """Row bands of map HDUs fetched ahead, keyed by ``(map location, HDU, first row)``.

    Used from the job's thread only (the pool's threads only run the fetches).
    """

    def __init__(self, max_bytes: int = PREFETCH_BYTES) -> None:
        self.max_bytes = max_bytes
        self._pending: OrderedDict[tuple[str, int, int], tuple[int, int, Future[np.ndarray]]] = OrderedDict()
        self._bytes = 0

    def covers(self, location: str, hdu: int, r0: int, r1: int) -> bool:
        """Whether one requested band already holds rows ``r0..r1-1`` of that HDU."""
        return any(
            key[0] == location and key[1] == hdu and key[2] <= r0 and r1 <= stop
            for key, (stop, _, _) in self._pending.items()
        )

    def request(
        self,
        executor: Executor,
        location: str,
        hdu: int,
        r0: int,
        r1: int,
        nbytes: int,
        fetch: Callable[[], np.ndarray],
    ) -> None:
        """Start fetching rows ``r0..r1-1`` (``nbytes``) with ``fetch`` on ``executor``."""
        if nbytes > self.max_bytes:
            return
        while self._pending and self._bytes + nbytes > self.max_bytes:
            _, (_, size, future) = self._pending.popitem(last=False)
            future.cancel()
            self._bytes -= size
        self._pending[(location, hdu, r0)] = (r1, nbytes, executor.submit(fetch))
        self._bytes += nbytes

    def take(self, location: str, hdu: int, row: int) -> tuple[int, np.ndarray] | None:
        """The requested band holding ``row`` and its first row (waiting for it if still in flight), once.

        A failed fetch raises here, in the job's thread, as the same read made there would have.
        """
        for key, (stop, size, future) in self._pending.items():
            if key[0] == location and key[1] == hdu and key[2] <= row < stop:
                del self._pending[key]
                self._bytes -= size
                return key[2], future.result()
        return None

    def clear(self) -> None:
        for _, _, future in self._pending.values():
            future.cancel()
        self._pending.clear()
        self._bytes = 0
