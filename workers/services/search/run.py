"""A search: one piece per shard (split), each searching its shard, merged into the top k.

The split pins the index's current version on every piece, so a job sees exactly one version
whatever a compaction swaps in meanwhile; each piece filters the ids deleted in the log since
that version. The result ``neighbours`` is an .npz: ``ids`` int64 [q, k], ``distances`` float32
[q, k] (best first, ``-1`` ids and infinite distances where fewer than k exist) and ``version``.
"""

from __future__ import annotations

import io
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from spt_api.services import ChildOutcome, FatalJobError, JobContext, MergeContext, SyncResult, UsageError
from spt_api.storage.inputs import StoredInputs
from workers.services.search import layout
from workers.services.search.background import background, wait_for
from workers.services.search.eventlog import pending_deletes
from workers.services.search.faiss_index import apply_threads, search_index
from workers.services.search.params import SearchParams, search_settings
from workers.services.search.refs import head, storage_key
from workers.services.search.shapes import c_order_header, check_queries
from workers.services.search.shards import held, load_shard
from workers.services.search.stores import object_store

__all__ = ["merge", "merge_neighbours", "run", "split", "sync"]

RESULT_NAME = "neighbours.npz"
RESULT_TYPE = "application/octet-stream"


def _storage(ctx: Any | None, settings: Any) -> Any:
    runtime = getattr(ctx, "runtime", None)
    return runtime.objects if runtime is not None else object_store(settings)


def split(params: SearchParams, settings: Any) -> list[SearchParams]:
    """One piece per shard of the current version (one shard: one piece, on that shard's queue), the queries
    checked first (dimension, type) from their header alone.

    A one-shard search runs in place, without a piece, where the piece would run anyway: in a process holding
    that shard (the API sent the job to the shard's queue), or anywhere when pieces go to the ``search``
    queue (``SPT_API_SEARCH_SHARD_QUEUES=false``)."""
    if params.shard is not None:
        return [params]
    storage = object_store(settings)
    shard_queues = search_settings(settings).shard_queues
    if params.version is not None:
        manifest = layout.read_pinned_manifest(storage, params.index, params.version)
    elif _holds_one_shard(storage, params.index):
        # Its run lists the index (while it reads the queries) and checks the queries: nothing to do here.
        return [params]
    elif not shard_queues:
        manifest, pending = layout.current_with_log(storage, params.index)  # the listing its run needs
        if manifest["shards"] == 1:
            _LISTED.value = (params.index, manifest, pending, time.monotonic())
            return [params]  # the run reads and checks the queries
    else:
        # The versions' listing and the queries' header, at once.
        header_read = background(head, storage, params.queries, settings, "queries")
        manifest = wait_for(header_read, lambda: layout.read_current_manifest(storage, params.index))
        return _pieces(params, manifest, header_read.result(), shard_queues)
    return _pieces(params, manifest, head(storage, params.queries, settings, "queries"), shard_queues)


def _holds_one_shard(storage: Any, index: str) -> bool:
    """This process holds shard 0 of a version of ``index`` that has one shard (compactions keep the count)."""
    for s in held():
        if s.name != index or s.shard != 0:
            continue
        try:
            if layout.read_pinned_manifest(storage, index, s.version)["shards"] == 1:
                return True
        except UsageError:
            # That version went with a deleted index of the same name (a new one starts above it): what this
            # process holds says nothing of the new index, whose search must not fail on the old manifest.
            continue
    return False


def _pieces(params: SearchParams, manifest: dict[str, Any], queries_head: bytes, shard_queues: bool) -> list[
    SearchParams
]:
    header = c_order_header(queries_head, "queries")
    check_queries(header.dtype, header.shape, manifest["dimension"])
    return [
        params.model_copy(update={"shard": i, "version": manifest["version"], "shard_queue": shard_queues})
        for i in range(manifest["shards"])
    ]


#: What the split just listed for a search it runs in place (index, manifest, pending log entries, when), taken
#: by that search's run in the same thread: the split and the run come one after the other in one job, and a
#: second listing a few milliseconds later cost as much as the split's (a LIST request per search).
_LISTED = threading.local()
#: Oldest listing a run takes from its split (seconds): a guard, the run follows its split at once.
LISTED_MAX_AGE = 1.0


def _listed(index: str) -> tuple[dict[str, Any], list[str]] | None:
    """What the split of this job listed for ``index``, taken once; None when it listed nothing for it."""
    listed = getattr(_LISTED, "value", None)
    _LISTED.value = None
    if listed is not None and listed[0] == index and time.monotonic() - listed[3] < LISTED_MAX_AGE:
        return listed[1], listed[2]
    return None


def _index_state(
    storage: Any, index: str, version: int | None, listed: tuple[dict[str, Any], list[str]] | None = None
) -> tuple[dict[str, Any], np.ndarray]:
    """The manifest to search (of ``version``, else the current one) and the ids deleted since: one listing,
    none when ``listed`` holds the split's."""
    pending: list[str] | None = None
    if version is None:
        manifest, pending = listed or layout.current_with_log(storage, index)  # one listing for both
    else:
        manifest = layout.read_pinned_manifest(storage, index, version)
    return manifest, pending_deletes(storage, index, manifest, pending)


#: storage → the reader of input references (kept: one for another bucket makes an S3 client).
_READERS: weakref.WeakKeyDictionary[Any, StoredInputs] = weakref.WeakKeyDictionary()


def _stored_queries(store: Any, key: str) -> Path | bytes:
    """The queries file: in place on a local store, else its bytes (a search's queries are small: read into
    memory, not downloaded to a job folder made and removed for them, then read back). Raises
    FileNotFoundError."""
    local = store.local_path(key)
    return local if local is not None else b"".join(store.read_chunks(key, 8 << 20))


def _query_bytes(ref: str, storage: Any, settings: Any) -> Path | bytes:
    """The queries of a job (:func:`_stored_queries`), its reference resolved as a job's inputs are."""
    reader = _READERS.get(storage)
    if reader is None:
        reader = _READERS.setdefault(storage, StoredInputs(storage, settings))
    store, key = reader.locate(ref, "queries")
    try:
        return _stored_queries(store, key)
    except FileNotFoundError:
        raise UsageError(f"the input {ref!r} is no longer stored") from None


def _load_queries(source: Path | bytes, dimension: int) -> np.ndarray:
    """The float32 [q, dimension] array of an .npy file (a path or its bytes); a UsageError naming ``queries``."""
    if isinstance(source, bytes):
        head = source[:4096]
    else:
        with open(source, "rb") as handle:
            head = handle.read(4096)
    header = c_order_header(head, "queries")
    try:
        if isinstance(source, bytes):
            queries = np.load(io.BytesIO(source), allow_pickle=False)
        else:
            queries = np.load(source, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UsageError(f"queries: not a readable .npy file ({exc})", parameter="queries") from None
    check_queries(header.dtype, queries.shape, dimension)
    return np.ascontiguousarray(queries, dtype=np.float32)


def _search(
    params: SearchParams, settings: Any, queries: Path | bytes, state: tuple[dict[str, Any], np.ndarray], storage: Any
) -> tuple[np.ndarray, np.ndarray, int]:
    """``queries``: the .npy file or its bytes; ``state``: what :func:`_index_state` read."""
    apply_threads(settings)
    manifest, deleted = state
    version = manifest["version"]
    queries_array = _load_queries(queries, manifest["dimension"])
    nprobe = params.nprobe or manifest.get("nprobe")
    shards = [params.shard] if params.shard is not None else list(range(manifest["shards"]))
    answers = []
    for shard in shards:
        if shard >= manifest["shards"]:
            raise UsageError(f"shard: index {params.index!r} has {manifest['shards']} shards", parameter="shard")
        loaded = load_shard(storage, settings, params.index, shard, version)
        distances, ids = search_index(loaded.index, queries_array, params.k, nprobe, deleted)
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
    listed = _listed(params.index) if params.version is None else None  # taken before anything may fail
    # The index's listing (and log) while the queries download: two requests' wait, one paid.
    state = background(_index_state, storage, params.index, params.version, listed)
    queries = wait_for(state, lambda: _query_bytes(params.queries, storage, ctx.settings))
    ids, distances, version = _search(params, ctx.settings, queries, state.result(), storage)
    # No progress of 1 of 1 here: a store write and an event per search, for a job about to end (the
    # version searched is in the result).
    ctx.add_result(RESULT_NAME, _npz(ids, distances, version), RESULT_TYPE, result_id="neighbours")


def sync(params: SearchParams, settings: Any, service_settings: Any) -> SyncResult:
    """``/api/search/sync``: every shard searched in this worker (loaded on demand), one .npz answered."""
    storage = object_store(settings)
    key = storage_key(params.queries, settings, "queries")
    state = background(_index_state, storage, params.index, params.version)
    try:
        queries = wait_for(state, lambda: _stored_queries(storage, key))
    except FileNotFoundError:
        raise UsageError(f"queries: no stored file {params.queries[:200]!r}", parameter="queries") from None
    ids, distances, version = _search(params, settings, queries, state.result(), storage)
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
    # The pieces' answers fetched at once, not one request after another.
    reads = [background(ctx.read_result, next(r for r in c.results if r.result_id == "neighbours")) for c in ordered]
    for read in reads:
        with np.load(io.BytesIO(read.result()), allow_pickle=False) as data:
            answers.append((data["ids"], data["distances"]))
            versions.add(int(data["version"]))
    if len(versions) != 1:
        raise FatalJobError(f"the pieces searched different versions: {sorted(versions)}")
    version = versions.pop()
    metric: str = layout.read_pinned_manifest(_storage(ctx, ctx.settings), params.index, version)["metric"]
    ids, distances = merge_neighbours(answers, params.k, metric)
    ctx.progress(len(children), len(children), f"searched version {version}")
    ctx.add_result(RESULT_NAME, _npz(ids, distances, version), RESULT_TYPE, result_id="neighbours")
