"""Where an index lives in the object store, and reading its manifests (light: the API uses it).

``indexes/<name>/v<k>/shard-<i>.faiss`` are the shards of version ``k``, and
``indexes/<name>/v<k>/manifest.json`` its metadata, written last: a version exists once its
manifest does, and the current version is the highest such ``k``. Nothing of a published version
is ever overwritten; a compaction publishes ``k+1`` by writing its manifest (the swap).
``indexes/<name>/log/<time>-<token>.json`` are the pending changes (the event log, each entry an
object written once, its data under ``log/data/``); a manifest lists the log entries it includes.
``indexes/<name>/retired.json`` is what a deleted index leaves: its last version, above which a new
index of that name starts, so that a (name, version) pair never names two different indexes (the
workers keep manifests and shards by it).
"""

from __future__ import annotations

import json
import re
import secrets
import time
import weakref
from typing import Any

from spt_api.services import NotFoundError, UsageError

__all__ = [
    "INDEX_NAME",
    "check_name",
    "current_version",
    "current_with_log",
    "first_version",
    "index_names",
    "log_entry_key",
    "log_prefix",
    "manifest_key",
    "pending_log",
    "read_current_manifest",
    "read_json",
    "read_manifest",
    "read_pinned_manifest",
    "retire",
    "retired_key",
    "shard_key",
    "shard_queue",
    "versions",
    "worker_key",
    "workers_prefix",
]

#: An index name: one path segment, safe as an object key, a file name and a queue name's part.
INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_MANIFEST = re.compile(r"^indexes/([^/]+)/v(\d+)/manifest\.json$")
_LOG_ENTRY = re.compile(r"^indexes/[^/]+/log/[0-9]{20}-[0-9a-f]+\.json$")


def check_name(name: str, parameter: str = "name") -> str:
    if not INDEX_NAME.match(name):
        raise UsageError(
            f"index name {name[:80]!r} is not allowed: 1 to 63 lower-case letters, digits, '-' or '_', "
            "starting with a letter or digit",
            parameter=parameter,
        )
    return name


def shard_queue(shard: int) -> str:
    """The queue of shard ``shard``'s pieces (the chart's StatefulSet pod ``N`` consumes ``search-shard-N``)."""
    return f"search-shard-{shard}"


def prefix(name: str) -> str:
    return f"indexes/{name}/"


def manifest_key(name: str, version: int) -> str:
    return f"indexes/{name}/v{version}/manifest.json"


def shard_key(name: str, version: int, shard: int) -> str:
    return f"indexes/{name}/v{version}/shard-{shard}.faiss"


def version_prefix(name: str, version: int) -> str:
    return f"indexes/{name}/v{version}/"


def retired_key(name: str) -> str:
    return f"indexes/{name}/retired.json"


def first_version(storage: Any, name: str) -> int:
    """The version a new index named ``name`` is published as: one above the last of a deleted index of
    that name, else 1."""
    try:
        return int(read_json(storage, retired_key(name))["last_version"]) + 1
    except FileNotFoundError:
        return 1


def retire(storage: Any, name: str, last_version: int) -> None:
    """Note, once the index's objects are deleted, the last version it had (:func:`first_version`)."""
    body = json.dumps({"last_version": last_version}).encode()
    storage.put_bytes(retired_key(name), body, "application/json")


def log_prefix(name: str) -> str:
    return f"indexes/{name}/log/"


def log_entry_key(name: str) -> str:
    """A new log entry's key: sorted by time of writing, unique by its token."""
    return f"indexes/{name}/log/{time.time_ns():020d}-{secrets.token_hex(6)}.json"


def log_data_key(entry_key: str, what: str) -> str:
    stem = entry_key.rsplit("/", 1)[-1].removesuffix(".json")
    return entry_key.rsplit("/", 1)[0] + f"/data/{stem}-{what}.npy"


def workers_prefix(name: str) -> str:
    return f"indexes/{name}/workers/"


def worker_key(name: str, worker_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", worker_id)
    return f"indexes/{name}/workers/{safe}.json"


def read_json(storage: Any, key: str) -> Any:
    return json.loads(b"".join(storage.read_chunks(key)))


def versions(storage: Any, name: str) -> list[int]:
    """The published versions of ``name`` (those with a manifest), oldest first."""
    found = []
    for key in storage.list_keys(prefix(name)):
        match = _MANIFEST.match(key)
        if match and match.group(1) == name:
            found.append(int(match.group(2)))
    return sorted(found)


def current_version(storage: Any, name: str) -> int | None:
    # The versions' folders only (not the log, nor the heartbeats): one short listing.
    found = [int(m.group(2)) for key in storage.list_keys(f"{prefix(name)}v")
             if (m := _MANIFEST.match(key)) and m.group(1) == name]
    return max(found) if found else None


def read_current_manifest(storage: Any, name: str) -> dict[str, Any]:
    """The current version's manifest for a search: one listing, the manifest itself read once per process."""
    check_name(name, "index")
    version = current_version(storage, name)
    if version is None:
        raise UsageError(f"no index named {name!r}", parameter="index")
    return read_pinned_manifest(storage, name, version)


def index_names(storage: Any) -> list[str]:
    """Every index with at least one published version."""
    return sorted({m.group(1) for key in storage.list_keys("indexes/") if (m := _MANIFEST.match(key))})


def read_manifest(storage: Any, name: str, version: int | None = None, parameter: str = "index") -> dict[str, Any]:
    """The manifest of ``version`` (default: the current one); NotFoundError naming what is missing."""
    check_name(name, parameter)
    if version is None:
        version = current_version(storage, name)
        if version is None:
            raise NotFoundError(f"no index named {name!r}")
    try:
        manifest: dict[str, Any] = read_json(storage, manifest_key(name, version))
    except FileNotFoundError:
        raise NotFoundError(f"index {name!r} has no version {version}") from None
    return manifest


def pending_log(storage: Any, name: str, manifest: dict[str, Any]) -> list[str]:
    """The log entries written and not included in ``manifest``'s version, oldest first."""
    included = set(manifest.get("log", []))
    return [k for k in storage.list_keys(log_prefix(name)) if _LOG_ENTRY.match(k) and k not in included]


def current_with_log(storage: Any, name: str) -> tuple[dict[str, Any], list[str]]:
    """A search's one listing: the current version's manifest (read once per process) and the log entries it
    does not include, oldest first."""
    check_name(name, "index")
    keys = storage.list_keys(prefix(name))
    found = [int(m.group(2)) for key in keys if (m := _MANIFEST.match(key)) and m.group(1) == name]
    if not found:
        raise UsageError(f"no index named {name!r}", parameter="index")
    manifest = read_pinned_manifest(storage, name, max(found))
    included = set(manifest.get("log", []))
    return manifest, [k for k in keys if _LOG_ENTRY.match(k) and k.startswith(log_prefix(name)) and k not in included]


def read_index_manifest(storage: Any, name: str, version: int | None = None) -> dict[str, Any]:
    """:func:`read_manifest` for a search: a missing index or version is the user's mistake (``index``)."""
    try:
        return read_manifest(storage, name, version)
    except NotFoundError as exc:
        raise UsageError(exc.message, parameter="index") from None


#: store → {(name, version): manifest}: a published version's manifest is never overwritten.
_PINNED: weakref.WeakKeyDictionary[Any, dict[tuple[str, int], dict[str, Any]]] = weakref.WeakKeyDictionary()
_PINNED_MAX = 256


def read_pinned_manifest(storage: Any, name: str, version: int) -> dict[str, Any]:
    """The manifest of a version a split pinned, read once per process and store (a piece, a merge): like a
    worker's loaded shard, a published version is taken as immutable. A copy: callers may change it."""
    known = _PINNED.setdefault(storage, {})
    found = known.get((name, version))
    if found is None:
        found = read_index_manifest(storage, name, version)
        if len(known) >= _PINNED_MAX:
            known.pop(next(iter(known)))
        known[(name, version)] = found
    return dict(found)
