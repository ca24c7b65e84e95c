"""Building FAISS shards: the default factory, seeded training, batched adds, recall against exact search.

Every shard of an index is a copy of one trained (empty) index, filled with the vectors whose
``id % shards`` is its number: the shards share their coarse quantizer, so the union of the shards'
answers is the answer of one index holding everything, and an id's shard is known without a lookup.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import faiss
import numpy as np

from spt_api.services import UsageError

__all__ = [
    "apply_threads",
    "default_factory",
    "default_nprobe",
    "empty_index",
    "exact_search",
    "no_polysemous_training",
    "recall_at",
    "search_index",
    "train_sample_rows",
]

#: Vectors added to a shard at once.
ADD_BATCH = 65536
#: Below this many vectors an exact (Flat) index is the default.
FLAT_BELOW = 10_000


def apply_threads(settings: Any) -> None:
    """Set FAISS's thread count from ``SPT_API_SEARCH_THREADS`` (0: FAISS's default, one per core)."""
    from workers.services.search.params import search_settings

    threads = search_settings(settings).threads
    if threads:
        faiss.omp_set_num_threads(threads)


def metric_of(name: str) -> int:
    return faiss.METRIC_INNER_PRODUCT if name == "IP" else faiss.METRIC_L2


def default_factory(n: int, d: int) -> str:
    """``Flat`` below 10,000 vectors; IVF with about 4 sqrt(n) lists (a power of two) above, PQ from 200,000."""
    if n < FLAT_BELOW:
        return "Flat"
    nlist = 2 ** max(4, min(16, round(math.log2(4 * math.sqrt(n)))))
    if n < 200_000:
        return f"IVF{nlist},Flat"
    m = next((m for m in (d // 4, d // 2, d, 8, 4, 2, 1) if m >= 1 and d % m == 0 and m <= 64), 1)
    return f"IVF{nlist},PQ{m}"


def ivf_of(index: Any) -> Any | None:
    try:
        return faiss.extract_index_ivf(index)
    except (RuntimeError, ValueError, AttributeError):
        return None


def default_nprobe(index: Any) -> int | None:
    """``nlist / 256`` lists per query, at least 8 (IVF4096 → 16); None for an index without lists."""
    ivf = ivf_of(index)
    if ivf is None:
        return None
    return int(min(ivf.nlist, max(8, ivf.nlist // 256)))


def empty_index(d: int, factory: str, metric: str) -> Any:
    """The index ``factory`` makes, able to hold ids of our choosing (wrapped in an IDMap2 when it cannot)."""
    try:
        index = faiss.index_factory(d, factory, metric_of(metric))
    except RuntimeError as exc:
        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"factory: FAISS cannot build {factory!r}: {message[:300]}", parameter="factory") from None
    no_polysemous_training(index)
    if ivf_of(index) is None and not isinstance(index, faiss.IndexIDMap):
        index = faiss.IndexIDMap2(index)
    return index


def no_polysemous_training(index: Any) -> None:
    """Skip the polysemous training index_factory asks of PQ codes: a slow annealing (a minute for PQ8 on
    4,000 vectors) that only serves Hamming pre-filtering, which searches here never use."""
    for part in (index, ivf_of(index)):
        if part is None:
            continue
        concrete = faiss.downcast_index(part)
        if hasattr(concrete, "do_polysemous_training"):
            concrete.do_polysemous_training = False


def train_sample_rows(n: int, size: int, seed: int) -> np.ndarray:
    """``size`` distinct row numbers of ``n``, sorted, drawn with ``seed``."""
    if size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def search_index(index: Any, queries: np.ndarray, k: int, nprobe: int | None, exclude: np.ndarray | None) -> tuple[
    np.ndarray, np.ndarray
]:
    """``index.search`` with ``nprobe`` and the ids in ``exclude`` filtered out (an IDSelector)."""
    selector = None
    if exclude is not None and len(exclude):
        exclude = np.ascontiguousarray(exclude, dtype=np.int64)
        batch = faiss.IDSelectorBatch(len(exclude), faiss.swig_ptr(exclude))
        selector = faiss.IDSelectorNot(batch)
    if ivf_of(index) is not None:
        params: Any = faiss.SearchParametersIVF(nprobe=nprobe or 1, sel=selector)  # type: ignore[call-arg]
    elif selector is not None:
        params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
    else:
        params = None
    distances, ids = index.search(queries, k, params=params)
    return distances, ids


def exact_search(
    vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int, metric: str, batch: int = 65536
) -> np.ndarray:
    """The ids of the exact ``k`` nearest neighbours (numpy, batched over the vectors)."""
    q = np.asarray(queries, dtype=np.float64)
    best_d = np.full((len(q), 0), 0, dtype=np.float64)
    best_i = np.full((len(q), 0), -1, dtype=np.int64)
    for start in range(0, len(vectors), batch):
        block = np.asarray(vectors[start : start + batch], dtype=np.float64)
        if metric == "IP":
            d = -(q @ block.T)
        else:
            d = (q * q).sum(1)[:, None] - 2 * (q @ block.T) + (block * block).sum(1)[None, :]
        all_d = np.concatenate([best_d, d], axis=1)
        all_i = np.concatenate([best_i, np.broadcast_to(ids[start : start + batch], d.shape)], axis=1)
        keep = np.argsort(all_d, axis=1, kind="stable")[:, :k]
        best_d = np.take_along_axis(all_d, keep, 1)
        best_i = np.take_along_axis(all_i, keep, 1)
    return best_i


def recall_at(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    """Mean share of the true ``k`` nearest found among the first ``k`` answered."""
    hits = sum(len(set(f[:k].tolist()) & set(t[:k].tolist()) - {-1}) for f, t in zip(found, truth, strict=True))
    return float(hits / (len(truth) * min(k, truth.shape[1])))


def build_shards(
    vectors: np.ndarray,
    ids: np.ndarray,
    *,
    factory: str,
    metric: str,
    shards: int,
    train_rows: np.ndarray,
    progress: Callable[[int, int, str], None],
    aborted: Callable[[], bool] = lambda: False,
) -> list[Any]:
    """Train one index on ``vectors[train_rows]`` and fill ``shards`` copies of it, batch by batch."""
    n, d = vectors.shape
    template = empty_index(d, factory, metric)
    if not template.is_trained:
        progress(0, n, f"training on {len(train_rows)} vectors")
        try:
            template.train(np.ascontiguousarray(vectors[train_rows], dtype=np.float32))
        except RuntimeError as exc:
            raise UsageError(f"factory: training {factory!r} failed: {str(exc)[-300:]}", parameter="factory") from None
    parts = [faiss.clone_index(template) for _ in range(shards)]
    for start in range(0, n, ADD_BATCH):
        if aborted():
            break
        block = np.ascontiguousarray(vectors[start : start + ADD_BATCH], dtype=np.float32)
        block_ids = np.ascontiguousarray(ids[start : start + ADD_BATCH], dtype=np.int64)
        owner = block_ids % shards
        for shard, index in enumerate(parts):
            mine = owner == shard
            if mine.any():
                index.add_with_ids(block[mine], block_ids[mine])
        done = min(n, start + ADD_BATCH)
        progress(done, n, f"added {done} of {n} vectors")
    return parts
