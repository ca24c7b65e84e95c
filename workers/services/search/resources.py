"""``/api/indexes*``: the indexes, their versions and shard workers, and their event log (light: API side).

Additions and deletions are appended to the index's event log in storage (one object per
request, its data copied beside it first, the entry written last); searches filter the logged
deletions at once, and ``spt-api index compact`` folds the log into the next version.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from spt_api.input_access import check_access
from spt_api.services import NotFoundError, PermissionDeniedError, Resource, ResourceRequest, UsageError
from spt_api.services.npy import NpyHeader
from workers.services.search import layout
from workers.services.search.refs import head, storage_key
from workers.services.search.shapes import c_order_header

__all__ = ["resources"]

#: Most ids one delete request may list inline (more: send them as an .npy file).
MAX_INLINE_IDS = 100_000
#: Types the log accepts for ids (stored as they are; workers read them as int64).
ID_TYPES = ("int64", "int32", "uint32")


def _summary(manifest: dict[str, Any]) -> dict[str, Any]:
    public = {k: v for k, v in manifest.items() if k != "log"}
    public["log_included"] = len(manifest.get("log", []))
    return public


def _shard_workers(req: ResourceRequest, name: str) -> list[dict[str, Any]]:
    """The live shard workers holding ``name``: those of the worker registry whose ``extra`` names one of its
    shards, and the processes that loaded one on demand (each writes a heartbeat object; see shards.py)."""
    found: list[dict[str, Any]] = []
    for worker in req.workers():
        extra = getattr(worker, "extra", None) or {}
        shards = [s for s in str(extra.get("shard", "")).split(",") if s.startswith(f"{name}:")]
        if shards:
            seen = getattr(worker, "last_seen", None)
            found.append({
                "worker_id": worker.worker_id,
                "hostname": worker.hostname,
                "shard": ",".join(shards),
                "index_version": extra.get("index_version"),
                "queues": list(worker.queues),
                "last_seen": seen.isoformat() if seen else None,
                "source": "registry",
            })
    max_age = getattr(req.service_settings, "worker_max_age", 300)
    oldest = datetime.now(UTC) - timedelta(seconds=max_age)
    for key in req.storage.list_keys(layout.workers_prefix(name)):
        try:
            info = layout.read_json(req.storage, key)
            seen = datetime.fromisoformat(info["last_seen"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            continue
        if seen >= oldest:
            found.append({**info, "source": "heartbeat"})
    return sorted(found, key=lambda w: (w.get("shard", ""), w.get("worker_id", "")))


def _describe(req: ResourceRequest, name: str) -> dict[str, Any]:
    manifest = layout.read_manifest(req.storage, name, parameter="name")
    return {
        **_summary(manifest),
        "current_version": manifest["version"],
        "versions": layout.versions(req.storage, name),
        "pending_log": len(layout.pending_log(req.storage, name, manifest)),
        "shard_workers": _shard_workers(req, name),
    }


def list_indexes(req: ResourceRequest) -> Any:
    return {"indexes": [_describe(req, name) for name in layout.index_names(req.storage)]}


def get_index(req: ResourceRequest) -> Any:
    return _describe(req, layout.check_name(req.path_args["name"]))


def _check_may_change(req: ResourceRequest) -> None:
    """Indexes are shared by every user: with login on, only an admin changes one (anyone may search it)."""
    if req.settings.auth_enabled and not req.principal.sees_all:
        raise PermissionDeniedError("changing an index (adding, deleting, dropping) needs the admin role")


def delete_index(req: ResourceRequest) -> Any:
    _check_may_change(req)
    name = layout.check_name(req.path_args["name"])
    if layout.current_version(req.storage, name) is None:
        raise NotFoundError(f"no index named {name!r}")
    # The manifests first: from then on the index is gone for searches, whatever remains to delete.
    published = layout.versions(req.storage, name)
    for version in published:
        req.storage.delete_prefix(layout.manifest_key(name, version))
    removed = req.storage.delete_prefix(layout.prefix(name))
    # A new index of this name starts above these versions: a worker still holding this one's manifest or
    # shard (kept by name and version) never takes it for the new one's.
    layout.retire(req.storage, name, max(published, default=0))
    return {"deleted": name, "objects": removed}


def _npy(req: ResourceRequest, parameter: str) -> tuple[str, NpyHeader]:
    uploaded = req.inputs.get(parameter)
    ref = uploaded or req.param(parameter)
    if not ref:
        raise UsageError(
            f"{parameter} is required: a .npy file (an upload or a storage reference)", parameter=parameter
        )
    if uploaded is None:
        # The same rule as a job's input files: data the operator shares (SPT_API_INPUT_SHARED_PREFIXES) or
        # an allowed URL; anything else (another user's upload, a job's results) is answered as missing.
        check_access(ref, parameter, req.settings, job_id="")
    key = storage_key(ref, req.settings, parameter)
    return key, c_order_header(head(req.storage, ref, req.settings, parameter), parameter)


def _ids_inline(req: ResourceRequest) -> list[int] | None:
    if "ids" in req.inputs:
        return None  # an uploaded .npy
    values = req.param_values("ids")
    if len(values) == 1 and not re.fullmatch(r"[\s,0-9-]*", values[0]):
        return None  # a storage reference
    ids: list[int] = []
    for value in values:
        for part in re.split(r"[\s,]+", value.strip()):
            if not part:
                continue
            try:
                ids.append(int(part))
            except ValueError:
                raise UsageError(f"ids: {part[:40]!r} is not an integer", parameter="ids") from None
            if len(ids) > MAX_INLINE_IDS:
                raise UsageError(f"ids: more than {MAX_INLINE_IDS} inline; send an .npy file", parameter="ids")
    if any(i < 0 for i in ids):
        raise UsageError("ids: an id is negative; ids are 0 or more", parameter="ids")
    return ids


def _ids_file(req: ResourceRequest, count: int | None) -> tuple[str, int]:
    key, header = _npy(req, "ids")
    if header.dtype not in ID_TYPES or len(header.shape) != 1:
        raise UsageError(
            f"ids: expected int64 [n], got dtype {header.dtype} shape {list(header.shape)}", parameter="ids"
        )
    if count is not None and header.shape[0] != count:
        raise UsageError(f"ids: {header.shape[0]} ids for {count} vectors", parameter="ids")
    return key, header.shape[0]


def _append(req: ResourceRequest, name: str, entry: dict[str, Any], data: dict[str, str]) -> dict[str, Any]:
    """Copy the entry's data beside it, then write the entry (the log's commit): durable, never half there."""
    key = layout.log_entry_key(name)
    for what, source in data.items():
        target = layout.log_data_key(key, what)
        # In the store (a hard link, or a server-side copy on S3): the file never passes through this process.
        req.storage.copy(source, target)
        entry[f"{what}_key"] = target
    entry["written"] = datetime.now(UTC).isoformat()
    req.storage.put_bytes(key, json.dumps(entry).encode(), "application/json")
    manifest = layout.read_manifest(req.storage, name, parameter="name")
    return {"index": name, "entry": key, "op": entry["op"], "count": entry["count"],
            "pending_log": len(layout.pending_log(req.storage, name, manifest))}


def add_vectors(req: ResourceRequest) -> Any:
    _check_may_change(req)
    name = layout.check_name(req.path_args["name"])
    manifest = layout.read_manifest(req.storage, name, parameter="name")
    key, header = _npy(req, "vectors")
    dim = manifest["dimension"]
    if header.dtype != "float32":
        raise UsageError(f"vectors: expected dtype float32 (<f4), got {header.dtype}", parameter="vectors")
    if len(header.shape) != 2 or header.shape[1] != dim:
        raise UsageError(
            f"vectors: expected shape [n, {dim}] (the index's dimension), got {list(header.shape)}",
            parameter="vectors",
        )
    count = header.shape[0]
    inline = _ids_inline(req)
    if inline is not None:
        if len(inline) != count:
            raise UsageError(f"ids: {len(inline)} ids for {count} vectors", parameter="ids")
        return _append(req, name, {"op": "add", "count": count, "ids": inline}, {"vectors": key})
    ids_key, _ = _ids_file(req, count)
    return _append(req, name, {"op": "add", "count": count}, {"vectors": key, "ids": ids_key})


def delete_vectors(req: ResourceRequest) -> Any:
    _check_may_change(req)
    name = layout.check_name(req.path_args["name"])
    layout.read_manifest(req.storage, name, parameter="name")
    if not req.param_values("ids") and "ids" not in req.inputs:
        raise UsageError("ids is required: the ids to delete (comma-separated, or an .npy file)", parameter="ids")
    inline = _ids_inline(req)
    if inline is not None:
        return _append(req, name, {"op": "delete", "count": len(inline), "ids": inline}, {})
    ids_key, count = _ids_file(req, None)
    return _append(req, name, {"op": "delete", "count": count}, {"ids": ids_key})


def resources() -> list[Resource]:
    return [
        Resource("/api/indexes", get=list_indexes, summary="The vector indexes and their current versions"),
        Resource(
            "/api/indexes/{name}",
            get=get_index,
            delete=delete_index,
            summary="An index: metadata, current version, live shard workers, pending log length",
        ),
        Resource(
            "/api/indexes/{name}/vectors",
            post=add_vectors,
            uploads=("vectors", "ids"),
            summary="Log vectors to add (.npy float32 [n, d] and ids); searchable after the next compaction",
        ),
        Resource(
            "/api/indexes/{name}/delete",
            post=delete_vectors,
            uploads=("ids",),
            summary="Log ids to delete; searches filter them at once",
        ),
    ]
