"""A worker's shards in memory: loaded once, kept, and switched to a new version between searches.

``spt-api worker --shard NAME:I`` loads shard ``I`` of ``NAME`` in the worker's main process
before its pool forks, so every pool process shares those pages; a piece for a newer version
loads that version (in the process that runs it) and drops the old one. Without shard workers
(the embedded pool, a plain worker) shards load on demand, the first search paying for it.
Each holder writes a heartbeat object beside the index (``indexes/<name>/workers/``), which
``GET /api/indexes/{name}`` lists: a stand-in for the core's worker registry.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss

from workers.services.search import layout

__all__ = ["LoadedShard", "held", "load_shard", "preload", "registry_extra"]

log = logging.getLogger(__name__)

#: Shortest time between two heartbeat objects of one worker and index (seconds).
HEARTBEAT_EVERY = 30.0


@dataclass
class LoadedShard:
    name: str
    shard: int
    version: int
    index: Any
    size: int


_HELD: dict[tuple[str, int], LoadedShard] = {}
_LOCK = threading.Lock()
_BEATS: dict[str, float] = {}


def held() -> list[LoadedShard]:
    return list(_HELD.values())


def _local_dir(settings: Any) -> Path:
    return Path(settings.data_dir).resolve() / "search-shards"


def _download(storage: Any, key: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.part")
    try:
        with tmp.open("wb") as handle:
            for chunk in storage.read_chunks(key, 8 << 20):
                handle.write(chunk)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def load_shard(storage: Any, settings: Any, name: str, shard: int, version: int) -> LoadedShard:
    """Shard ``shard`` of version ``version``: the one held if it is that version, else loaded now."""
    with _LOCK:
        current = _HELD.get((name, shard))
        if current is not None and current.version == version:
            _beat(storage, name)
            return current
        path = _local_dir(settings) / name / f"v{version}" / f"shard-{shard}.faiss"
        if not path.is_file():
            _download(storage, layout.shard_key(name, version, shard), path)
        started = time.monotonic()
        index = faiss.read_index(str(path))
        loaded = LoadedShard(name, shard, version, index, path.stat().st_size)
        _HELD[(name, shard)] = loaded  # the old version is dropped here, between two searches
        log.info("search shard %s:%d v%d loaded in %.2f s", name, shard, version, time.monotonic() - started)
        if current is not None:
            old = _local_dir(settings) / name / f"v{current.version}" / f"shard-{shard}.faiss"
            old.unlink(missing_ok=True)
        _BEATS.pop(name, None)
        _beat(storage, name)
        return loaded


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _beat(storage: Any, name: str) -> None:
    """Say (at most every HEARTBEAT_EVERY seconds) which shards of ``name`` this process holds."""
    now = time.monotonic()
    if now - _BEATS.get(name, -HEARTBEAT_EVERY) < HEARTBEAT_EVERY:
        return
    _BEATS[name] = now
    mine = sorted((s for s in _HELD.values() if s.name == name), key=lambda s: s.shard)
    info = {
        "worker_id": worker_id(),
        "hostname": socket.gethostname(),
        "shards": [f"{s.name}:{s.shard}" for s in mine],
        "shard": ",".join(f"{s.name}:{s.shard}" for s in mine),
        "index_version": max((s.version for s in mine), default=None),
        "memory_bytes": sum(s.size for s in mine),
        "last_seen": datetime.now(UTC).isoformat(),
    }
    try:
        storage.put_bytes(layout.worker_key(name, worker_id()), json.dumps(info).encode(), "application/json")
    except Exception as exc:  # a courtesy: never fail a search for it
        log.warning("shard heartbeat not written: %s", exc)


def registry_extra() -> dict[str, Any] | None:
    """What a shard worker publishes in the live worker registry: ``{"shard": "faces:2", "index_version": 3}``
    (the shards its main process loaded; a pool process that switched version says so in its heartbeat object)."""
    mine = sorted(_HELD.values(), key=lambda s: (s.name, s.shard))
    if not mine:
        return None
    return {
        "shard": ",".join(f"{s.name}:{s.shard}" for s in mine),
        "index_version": max(s.version for s in mine),
        "memory_bytes": sum(s.size for s in mine),
    }


def preload(settings: Any, storage: Any, name: str, shard: int) -> LoadedShard:
    """Load shard ``shard`` of the current version of ``name`` (``spt-api worker --shard``)."""
    manifest = layout.read_manifest(storage, name)
    if not 0 <= shard < manifest["shards"]:
        raise SystemExit(f"index {name!r} has {manifest['shards']} shards; there is no shard {shard}")
    return load_shard(storage, settings, name, shard, manifest["version"])
