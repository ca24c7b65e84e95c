"""A search: one piece per shard (split), each searching its shard, merged into the top k.

The split pins the index's current version on every piece, so a job sees exactly one version
whatever a compaction swaps in meanwhile; each piece filters the ids deleted in the log since
that version. The result ``neighbours`` is an .npz: ``ids`` int64 [q, k], ``distances`` float32
[q, k] (best first, ``-1`` ids and infinite distances where fewer than k exist) and ``version``.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from spt_api.services import ChildOutcome, FatalJobError, JobContext, MergeContext, SyncResult, UsageError
from workers.services.search import layout
from workers.services.search.eventlog import pending_deletes
from workers.services.search.faiss_index import apply_threads, search_index
from workers.services.search.npy_header import parse_npy_header
from workers.services.search.params import SearchParams
from workers.services.search.refs import head
from workers.services.search.shapes import check_queries
from workers.services.search.shards import held, load_shard
from workers.services.search.stores import object_store

__all__ = ["merge", "merge_neighbours", "run", "split", "sync"]

RESULT_NAME = "neighbours.npz"
RESULT_TYPE = "application/octet-stream"


def _storage(ctx: Any | None, settings: Any) -> Any:
    runtime = getattr(ctx, "runtime", None)
    return runtime.objects if runtime is not None else object_store(settings)


def _manifest(storage: Any, params: SearchParams) -> dict[str, Any]:
    """The version the split pinned (read once per process: published versions never change), else the current."""
    if params.version is not None:
        return layout.read_pinned_manifest(storage, params.index, params.version)
    return layout.read_current_manifest(storage, params.index)


def _holds(index: str, shard: int) -> bool:
    return any(s.name == index and s.shard == shard for s in held())


def split(params: SearchParams, settings: Any) -> list[SearchParams]:
    """One piece per shard of the current version (one shard: one piece, on that shard's queue), the queries
    checked first (dimension, type) from their header alone.

    A one-shard search runs in place, without a piece, where the piece would run anyway: in a process holding
    that shard (the API sent the job to the shard's queue), or anywhere when pieces go to the ``search``
    queue (``SPT_API_SEARCH_SHARD_QUEUES=false``)."""
    if params.shard is not None:
        return [params]
    from workers.services.search.settings import SearchSettings

    storage = object_store(settings)
    manifest = _manifest(storage, params)
    own = SearchSettings.for_core(settings, "search")
    shard_queues = bool(getattr(own, "shard_queues", True))
    if manifest["shards"] == 1 and (not shard_queues or _holds(params.index, 0)):
        return [params]  # the run reads and checks the queries
    try:
        header = parse_npy_header(head(storage, params.queries, settings, "queries"))
    except ValueError as exc:
        raise UsageError(f"queries: {exc}", parameter="queries") from None
    check_queries(header.dtype, header.shape, manifest["dimension"])
    return [
        params.model_copy(update={"shard": i, "version": manifest["version"], "shard_queue": shard_queues})
        for i in range(manifest["shards"])
    ]


def _search(params: SearchParams, storage: Any, settings: Any, queries_path: Any) -> tuple[np.ndarray, np.ndarray, int]:
    apply_threads(settings)
    pending: list[str] | None = None
    if params.version is None:
        manifest, pending = layout.current_with_log(storage, params.index)  # one listing for both
    else:
        manifest = layout.read_pinned_manifest(storage, params.index, params.version)
    version = manifest["version"]
    with open(queries_path, "rb") as handle:
        try:
            parse_npy_header(handle.read(4096))
        except ValueError as exc:
            raise UsageError(f"queries: {exc}", parameter="queries") from None
    try:
        queries = np.load(queries_path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise UsageError(f"queries: not a readable .npy file ({exc})", parameter="queries") from None
    check_queries(queries.dtype.str, queries.shape, manifest["dimension"])
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    deleted = pending_deletes(storage, params.index, manifest, pending)
    nprobe = params.nprobe or manifest.get("nprobe")
    shards = [params.shard] if params.shard is not None else list(range(manifest["shards"]))
    answers = []
    for shard in shards:
        if shard >= manifest["shards"]:
            raise UsageError(f"shard: index {params.index!r} has {manifest['shards']} shards", parameter="shard")
        loaded = load_shard(storage, settings, params.index, shard, version)
        distances, ids = search_index(loaded.index, queries, params.k, nprobe, deleted)
        answers.append((ids, distances))
    ids, distances = merge_neighbours(answers, params.k, manifest["metric"])
    return ids, distances, version


def merge_neighbours(
    answers: list[tuple[np.ndarray, np.ndarray]], k: int, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` of several shards' answers per query; missing ones ``-1`` with an infinite distance."""
    ids = np.concatenate([a[0] for a in answers], axis=1).astype(np.int64)
    distances = np.concatenate([a[1] for a in answers], axis=1).astype(np.float32)
    worst = np.float32(np.inf if metric != "IP" else -np.inf)
    distances[ids < 0] = worst
    key = distances if metric != "IP" else -distances
    order = np.argsort(key, axis=1, kind="stable")[:, :k]
    ids = np.take_along_axis(ids, order, 1)
    distances = np.take_along_axis(distances, order, 1)
    if ids.shape[1] < k:
        pad = k - ids.shape[1]
        ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
        distances = np.pad(distances, ((0, 0), (0, pad)), constant_values=worst)
    return ids, distances


def _npz(ids: np.ndarray, distances: np.ndarray, version: int) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, ids=ids, distances=distances, version=np.int64(version))
    return buffer.getvalue()


def run(params: SearchParams, ctx: JobContext) -> None:
    storage = _storage(ctx, ctx.settings)
    path = ctx.input_path(params.queries)
    ids, distances, version = _search(params, storage, ctx.settings, path)
    # No progress of 1 of 1 here: a store write and an event per search, for a job about to end (the
    # version searched is in the result).
    ctx.add_result(RESULT_NAME, _npz(ids, distances, version), RESULT_TYPE, result_id="neighbours")


def sync(params: SearchParams, settings: Any, service_settings: Any) -> SyncResult:
    """``/api/search/sync``: every shard searched in this worker (loaded on demand), one .npz answered."""
    import tempfile
    from pathlib import Path

    from workers.services.search.refs import storage_key

    storage = object_store(settings)
    with tempfile.TemporaryDirectory(prefix="search-") as tmp:
        path = Path(tmp) / "queries.npy"
        try:
            with path.open("wb") as handle:
                for chunk in storage.read_chunks(storage_key(params.queries, settings, "queries")):
                    handle.write(chunk)
        except FileNotFoundError:
            raise UsageError(f"queries: no stored file {params.queries[:200]!r}", parameter="queries") from None
        ids, distances, version = _search(params, storage, settings, path)
    return SyncResult(_npz(ids, distances, version), RESULT_TYPE, RESULT_NAME)


def merge(params: SearchParams, children: list[ChildOutcome], ctx: MergeContext) -> None:
    """The pieces' answers merged into the best k per query (all pieces searched the same version); one
    piece's answer is the job's as it is (adopted: neither read back nor written again)."""
    answers = []
    versions = set()
    ordered = sorted(children, key=lambda c: getattr(c.params, "shard", 0) or 0)
    for child in ordered:
        shard = getattr(child.params, "shard", None)
        if child.phase != "COMPLETED":
            message = child.error_message or f"a piece ended {child.phase}"
            raise FatalJobError(f"shard {shard}: {message}")
    if len(ordered) == 1:
        result = next(r for r in ordered[0].results if r.result_id == "neighbours")
        ctx.adopt_result(result)
        return
    for child in ordered:
        result = next(r for r in child.results if r.result_id == "neighbours")
        with np.load(io.BytesIO(ctx.read_result(result)), allow_pickle=False) as data:
            answers.append((data["ids"], data["distances"]))
            versions.add(int(data["version"]))
    if len(versions) != 1:
        raise FatalJobError(f"the pieces searched different versions: {sorted(versions)}")
    version = versions.pop()
    metric: str = layout.read_pinned_manifest(_storage(ctx, ctx.settings), params.index, version)["metric"]
    ids, distances = merge_neighbours(answers, params.k, metric)
    ctx.progress(len(children), len(children), f"searched version {version}")
    ctx.add_result(RESULT_NAME, _npz(ids, distances, version), RESULT_TYPE, result_id="neighbours")
