"""Reading an index's event log (workers, the compaction): entries in order, their ids and vectors.

Entries are immutable objects, so what was read once is cached by key.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from workers.services.search import layout

__all__ = ["LogEntry", "pending_deletes", "read_entry"]


@dataclass(frozen=True)
class LogEntry:
    key: str
    op: str
    ids: np.ndarray
    #: The vectors of an ``add`` (float32 [n, d]); None for a ``delete``.
    vectors: np.ndarray | None
    data_keys: tuple[str, ...]


def _array(storage: Any, key: str) -> np.ndarray:
    array: np.ndarray = np.load(io.BytesIO(b"".join(storage.read_chunks(key))), allow_pickle=False)
    return array


def read_entry(storage: Any, key: str, with_vectors: bool = True) -> LogEntry:
    raw = layout.read_json(storage, key)
    data_keys = tuple(v for k, v in raw.items() if k.endswith("_key"))
    ids = np.asarray(raw["ids"], dtype=np.int64) if "ids" in raw else _array(storage, raw["ids_key"]).astype(np.int64)
    vectors = None
    if raw["op"] == "add" and with_vectors:
        vectors = np.ascontiguousarray(_array(storage, raw["vectors_key"]), dtype=np.float32)
    return LogEntry(key, raw["op"], ids, vectors, data_keys)


@lru_cache(maxsize=4096)
def _deleted_ids(storage: Any, key: str) -> np.ndarray | None:
    entry = read_entry(storage, key, with_vectors=False)
    return entry.ids if entry.op == "delete" else None


def pending_deletes(storage: Any, name: str, manifest: dict[str, Any], keys: list[str] | None = None) -> np.ndarray:
    """Every id deleted by a log entry not yet in ``manifest``'s version (sorted, unique); ``keys``: those
    entries, when the caller listed them already."""
    if keys is None:
        keys = layout.pending_log(storage, name, manifest)
    found = [ids for key in keys if (ids := _deleted_ids(storage, key)) is not None]
    return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
