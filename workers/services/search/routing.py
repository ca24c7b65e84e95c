"""Where a whole search job goes (light: the API): the shard's queue when its index has one shard.

A search of a one-shard index fanned out into one piece on ``search-shard-0``: a second job, a second
trip through the queue and a merge, each paid per search. The API's input check reads the index's
manifest anyway; it notes here which indexes have one shard, and the job (placed after its inputs are
checked) is sent to ``search-shard-0`` whole, where the shard's worker runs it in place (``run.split``).
A note gone stale (the index rebuilt with more shards) costs nothing but that: the split, wherever it
runs, reads the current manifest and fans out as usual. One limit: a PENDING search's parameters cannot
be changed to an index with another shard count (its queue was chosen at creation).
"""

from __future__ import annotations

import threading

__all__ = ["note", "one_shard"]

_ONE_SHARD: set[str] = set()
_LOCK = threading.Lock()
#: Index names remembered at most (a name beyond is routed the usual way).
_MAX = 10_000


def note(index: str, shards: int, shard_queues: bool) -> None:
    """What the input check just read: ``index`` has ``shards`` shards; pieces go to shard queues or not."""
    with _LOCK:
        if shards == 1 and shard_queues:
            if len(_ONE_SHARD) < _MAX:
                _ONE_SHARD.add(index)
        else:
            _ONE_SHARD.discard(index)


def one_shard(index: str) -> bool:
    return index in _ONE_SHARD
