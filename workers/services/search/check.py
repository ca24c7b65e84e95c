"""The API's light check of search and index inputs (``ServiceSpec.check_inputs``): .npy headers only.

A wrong dimension or type is a 400 naming the parameter before any job exists; the workers check
the whole file again (a file may change, and a reference may name another object later).
"""

from __future__ import annotations

from typing import Any

from spt_api.services import InputReader, UsageError
from spt_api.services.npy import NpyHeader
from workers.services.search import layout, routing
from workers.services.search.params import search_settings
from workers.services.search.shapes import c_order_header, check_queries
from workers.services.search.stores import object_store

__all__ = ["check_index_inputs", "check_search_inputs"]

#: Enough for any .npy header this service accepts.
HEAD_BYTES = 4096


def header(inputs: InputReader, ref: str, parameter: str) -> NpyHeader:
    try:
        head = inputs.head(ref, HEAD_BYTES)
    except FileNotFoundError:
        raise UsageError(f"{parameter}: no stored file {ref[:200]!r}", parameter=parameter) from None
    return c_order_header(head, parameter)


def check_search_inputs(params: Any, inputs: InputReader) -> None:
    """The queries are float32 [q, d] with the index's dimension; the index exists. Notes the index's shard
    count for the next search's queue (:mod:`workers.services.search.routing`)."""
    storage = object_store(inputs.settings)
    if params.version is not None:
        manifest = layout.read_pinned_manifest(storage, params.index, params.version)
    else:
        manifest = layout.read_current_manifest(storage, params.index)
        routing.note(params.index, manifest["shards"], search_settings(inputs.settings).shard_queues)
    found = header(inputs, params.queries, "queries")
    check_queries(found.dtype, found.shape, manifest["dimension"])


def check_index_inputs(params: Any, inputs: InputReader) -> None:
    """The vectors are float32 [n, d]; the ids, when given, int [n]."""
    vectors = header(inputs, params.vectors, "vectors")
    if vectors.dtype != "float32" or len(vectors.shape) != 2:
        raise UsageError(
            f"vectors: expected float32 [n, d], got dtype {vectors.dtype} shape {list(vectors.shape)}",
            parameter="vectors",
        )
    if vectors.shape[0] == 0 or vectors.shape[1] == 0:
        raise UsageError("vectors: no vectors", parameter="vectors")
    if params.ids:
        ids = header(inputs, params.ids, "ids")
        if ids.dtype not in ("int64", "int32", "uint32", "uint64") or ids.shape != (vectors.shape[0],):
            raise UsageError(
                f"ids: expected int64 [{vectors.shape[0]}], got dtype {ids.dtype} shape {list(ids.shape)}",
                parameter="ids",
            )
