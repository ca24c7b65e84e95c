"""``spt-api index compact``: fold an index's event log into a new version and swap it in.

Version ``k+1`` is built shard by shard from version ``k`` and the pending log entries (in the
order they were written: an add replaces an id's vector, a delete removes it), uploaded, and
then published by writing its manifest: the atomic swap (a version exists once its manifest
does; searches pin the highest). A compaction that dies before that leaves ``k`` serving and its
half-written files unpublished; a rerun rebuilds them and finishes. A rerun after the swap finds
nothing pending and only tidies: the log entries that version ``k`` already included, and the
snapshots older than ``k``, are deleted (``k`` stays for searches pinned to it a moment ago).
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from workers.services.search import layout
from workers.services.search.eventlog import LogEntry, read_entry

__all__ = ["compact", "compact_all", "on_shard_uploaded"]

log = logging.getLogger(__name__)

#: Called after each new shard is uploaded (tests kill the process here to crash a compaction midway).
def _nothing(name: str, version: int, shard: int) -> None:
    return None


on_shard_uploaded: Callable[[str, int, int], None] = _nothing


def _apply(index: Any, entries: list[LogEntry], shard: int, shards: int) -> None:
    for entry in entries:
        mine = entry.ids % shards == shard
        ids = np.ascontiguousarray(entry.ids[mine], dtype=np.int64)
        if not len(ids):
            continue
        index.remove_ids(faiss.IDSelectorBatch(len(ids), faiss.swig_ptr(ids)))
        if entry.op == "add":
            assert entry.vectors is not None
            index.add_with_ids(np.ascontiguousarray(entry.vectors[mine], dtype=np.float32), ids)


def _tidy(storage: Any, name: str, current: dict[str, Any]) -> dict[str, int]:
    """Delete what no search needs any more: log entries the previous version included, older snapshots."""
    version = current["version"]
    removed = {"log_entries": 0, "snapshots": 0}
    previous = version - 1
    if previous >= 1 and storage.exists(layout.manifest_key(name, previous)):
        included = layout.read_manifest(storage, name, previous).get("log", [])
        for key in included:
            try:
                raw = layout.read_json(storage, key)
            except FileNotFoundError:
                continue
            for data_key in (v for k, v in raw.items() if k.endswith("_key")):
                storage.delete_prefix(data_key)
            storage.delete_prefix(key)
            removed["log_entries"] += 1
    for old in layout.versions(storage, name):
        if old < previous:
            storage.delete_prefix(layout.manifest_key(name, old))  # unpublished first, then its files
            storage.delete_prefix(layout.version_prefix(name, old))
            removed["snapshots"] += 1
    return removed


def compact(storage: Any, name: str, workdir: Path | None = None) -> dict[str, Any]:
    """Build and publish the next version of ``name`` if its log has pending entries; tidy in any case."""
    manifest = layout.read_manifest(storage, name)
    version = manifest["version"]
    pending = layout.pending_log(storage, name, manifest)
    report: dict[str, Any] = {"index": name, "version": version, "compacted": False, "pending": len(pending)}
    if pending:
        entries = [read_entry(storage, key) for key in pending]
        new_version = version + 1
        shards = manifest["shards"]
        counts, sizes = [], []
        with tempfile.TemporaryDirectory(prefix=f"compact-{name}-", dir=workdir) as tmp:
            for shard in range(shards):
                source = Path(tmp) / f"old-{shard}.faiss"
                with source.open("wb") as handle:
                    for chunk in storage.read_chunks(layout.shard_key(name, version, shard), 8 << 20):
                        handle.write(chunk)
                index = faiss.read_index(str(source))
                source.unlink()
                _apply(index, entries, shard, shards)
                target = Path(tmp) / f"shard-{shard}.faiss"
                faiss.write_index(index, str(target))
                counts.append(int(index.ntotal))
                sizes.append(target.stat().st_size)
                del index
                # Not published yet: a rerun after a crash overwrites this file, which no search reads.
                storage.put_file(layout.shard_key(name, new_version, shard), target, "application/octet-stream")
                target.unlink()
                on_shard_uploaded(name, new_version, shard)
        existing = set(storage.list_keys(layout.log_prefix(name)))
        carried = [k for k in manifest.get("log", []) if k in existing]
        new_manifest = {
            **manifest,
            "version": new_version,
            "count": sum(counts),
            "shard_counts": counts,
            "shard_bytes": sizes,
            "created": datetime.now(UTC).isoformat(),
            "built_by": "compaction",
            "compacted_from": version,
            "log": sorted(set(carried) | set(pending)),
        }
        if storage.exists(layout.manifest_key(name, new_version)):
            raise RuntimeError(f"index {name!r}: version {new_version} was published meanwhile by another compaction")
        # The swap: from this write on, new searches pin version k+1.
        storage.put_bytes(layout.manifest_key(name, new_version), json.dumps(new_manifest).encode(), "application/json")
        log.info("index %s: version %d published (%d log entries folded in)", name, new_version, len(pending))
        report.update(version=new_version, compacted=True, count=sum(counts))
        manifest = new_manifest
    report["removed"] = _tidy(storage, name, manifest)
    return report


def compact_all(storage: Any, names: list[str] | None = None) -> list[dict[str, Any]]:
    """Compact each named index (default: every index); one failing does not stop the others."""
    reports = []
    for name in names or layout.index_names(storage):
        try:
            reports.append(compact(storage, name))
        except Exception as exc:
            log.exception("compaction of index %s failed", name)
            reports.append({"index": name, "error": f"{type(exc).__name__}: {exc}"})
    return reports
