"""The ``index`` service's run: build an index's first version (1, or above a deleted index's of its name)
from an .npy file of vectors.

Vectors are read memory-mapped and added in batches with progress; training uses a sample drawn
with ``seed``. Each shard is uploaded, then the manifest (the version's commit). The metadata's
recall@10 is measured on a held-out query sample (sampled vectors, perturbed by a little noise,
drawn with another seed) against exact numpy search, at the index's default nprobe.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import faiss
import numpy as np

from spt_api.services import JobContext, UsageError
from workers.services.search import layout
from workers.services.search.faiss_index import (
    apply_threads,
    build_shards,
    default_factory,
    default_nprobe,
    empty_index,
    exact_search,
    ivf_of,
    recall_at,
    search_index,
    train_sample_rows,
)
from workers.services.search.run import merge_neighbours

__all__ = ["build_index", "run"]

#: Queries of the recall measurement.
RECALL_QUERIES = 200


def _load_npy(path: Any, parameter: str) -> np.ndarray:
    try:
        array: np.ndarray = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise UsageError(f"{parameter}: not a readable .npy file ({exc})", parameter=parameter) from None
    return array


def run(params: Any, ctx: JobContext) -> None:
    storage = ctx.runtime.objects  # type: ignore[attr-defined]
    apply_threads(ctx.settings)
    vectors = _load_npy(ctx.input_path(params.vectors), "vectors")
    ids = _load_npy(ctx.input_path(params.ids), "ids") if params.ids else None
    manifest = build_index(
        storage,
        ctx.workdir,
        params.name,
        vectors,
        ids,
        factory=params.factory,
        metric=params.metric,
        shards=params.shards,
        train_sample=params.train_sample,
        seed=params.seed,
        progress=ctx.progress,
        aborted=ctx.is_aborted,
    )
    ctx.add_result("manifest.json", json.dumps(manifest, indent=1).encode(), "application/json", result_id="manifest")


def check_vectors(vectors: np.ndarray, ids: np.ndarray | None) -> None:
    if vectors.dtype != np.float32 or vectors.ndim != 2:
        raise UsageError(
            f"vectors: expected float32 [n, d], got dtype {vectors.dtype} shape {list(vectors.shape)}",
            parameter="vectors",
        )
    if len(vectors) == 0 or vectors.shape[1] == 0:
        raise UsageError("vectors: no vectors", parameter="vectors")
    if ids is not None:
        if ids.ndim != 1 or ids.dtype.kind not in "iu" or len(ids) != len(vectors):
            raise UsageError(
                f"ids: expected int64 [{len(vectors)}], got dtype {ids.dtype} shape {list(ids.shape)}", parameter="ids"
            )
        if len(ids) and int(np.min(ids)) < 0:
            raise UsageError("ids: an id is negative; ids are 0 or more", parameter="ids")
        if len(np.unique(ids)) != len(ids):
            raise UsageError("ids: an id appears twice", parameter="ids")


def build_index(
    storage: Any,
    workdir: Any,
    name: str,
    vectors: np.ndarray,
    ids: np.ndarray | None,
    *,
    factory: str | None,
    metric: str,
    shards: int,
    train_sample: int | None,
    seed: int,
    progress: Any = lambda *a: None,
    aborted: Any = lambda: False,
) -> dict[str, Any]:
    layout.check_name(name)
    check_vectors(vectors, ids)
    if layout.current_version(storage, name) is not None:
        raise UsageError(
            f"name: an index named {name!r} exists; DELETE /api/indexes/{name} first, or add vectors to it",
            parameter="name",
        )
    n, d = vectors.shape
    ids = np.arange(n, dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
    factory = factory or default_factory(n, d)
    ivf = ivf_of(empty_index(d, factory, metric))
    sample = train_sample or min(n, 256 * (ivf.nlist if ivf is not None else 1))
    rows = train_sample_rows(n, min(sample, n), seed)
    parts = build_shards(
        vectors, ids, factory=factory, metric=metric, shards=shards, train_rows=rows, progress=progress, aborted=aborted
    )
    if aborted():
        return {}
    nprobe = default_nprobe(parts[0])
    recall = measure_recall(parts, vectors, ids, metric, nprobe, seed)
    version = layout.first_version(storage, name)  # 1, or above a deleted index's of the same name
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = []
    for shard, index in enumerate(parts):
        path = workdir / f"shard-{shard}.faiss"
        faiss.write_index(index, str(path))
        sizes.append(path.stat().st_size)
        storage.put_file(layout.shard_key(name, version, shard), path, "application/octet-stream")
        path.unlink()
    manifest = {
        "name": name,
        "version": version,
        "dimension": d,
        "metric": metric,
        "factory": factory,
        "shards": shards,
        "count": int(sum(p.ntotal for p in parts)),
        "shard_counts": [int(p.ntotal) for p in parts],
        "shard_bytes": sizes,
        "nprobe": nprobe,
        "train_sample": len(rows),
        "seed": seed,
        "recall_at_10": recall,
        "recall_queries": min(RECALL_QUERIES, n),
        "created": datetime.now(UTC).isoformat(),
        "built_by": "build",
        "log": [],
    }
    storage.put_bytes(layout.manifest_key(name, version), json.dumps(manifest).encode(), "application/json")
    return manifest


def recall_queries(vectors: np.ndarray, seed: int) -> np.ndarray:
    """A held-out sample of queries: sampled vectors with a little Gaussian noise (seed + 1)."""
    rng = np.random.default_rng(seed + 1)
    n = len(vectors)
    rows = np.sort(rng.choice(n, size=min(RECALL_QUERIES, n), replace=False))
    sample = np.asarray(vectors[rows], dtype=np.float32)
    scale = float(np.std(sample)) * 0.1 or 1e-3
    return (sample + rng.normal(0, scale, sample.shape)).astype(np.float32)


def measure_recall(
    parts: list[Any], vectors: np.ndarray, ids: np.ndarray, metric: str, nprobe: int | None, seed: int
) -> float:
    queries = recall_queries(vectors, seed)
    k = min(10, len(vectors))
    truth = exact_search(vectors, ids, queries, k, metric)
    answers = [search_index(p, queries, k, nprobe, None)[::-1] for p in parts]
    found, _ = merge_neighbours([(i, dist) for i, dist in answers], k, metric)
    return round(recall_at(found, truth, k), 4)
