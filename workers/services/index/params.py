"""Parameters of the ``index`` service (light: imported by the API)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from spt_api.services import InputFile, ParamsModel, ServiceSpec
from workers.services.search.layout import INDEX_NAME

__all__ = ["SERVICE", "IndexParams"]


class IndexParams(ParamsModel):
    name: str = Field(title="Name of the new index (lower-case letters, digits, '-', '_')", pattern=INDEX_NAME.pattern)
    vectors: InputFile = Field(
        title="The vectors: an uploaded .npy file of float32 [n, d], or a storage URI (s3://bucket/key or a key)",
    )
    ids: InputFile | None = Field(
        None, title="Their ids: an uploaded .npy file of int64 [n], each 0 or more (default 0..n-1)"
    )
    factory: str | None = Field(
        None,
        title="A FAISS index_factory string (e.g. IVF4096,PQ32); default: Flat below 10,000 vectors, IVF above",
        max_length=200,
        pattern=r"^[A-Za-z0-9_,.=\-]+$",
    )
    metric: Literal["L2", "IP"] = Field("L2", title="Distance: L2 (squared Euclidean) or IP (inner product)")
    shards: int = Field(1, title="Shards (each held by one shard worker; shard of an id = id mod shards)", ge=1, le=256)
    train_sample: int | None = Field(
        None, title="Vectors the index is trained on (default min(n, 256 x nlist))", ge=1, le=100_000_000
    )
    seed: int = Field(0, title="Seed of the training sample", ge=0, le=2**31 - 1)


SERVICE = ServiceSpec(
    name="index",
    title="Vector index build",
    description=(
        "Builds a FAISS index from .npy vectors: trained on a seeded sample, filled in batches, split into shards, "
        "stored as version 1 of a versioned snapshot with its metadata (recall@10 against exact search). "
        "See /api/indexes; search it with the search service."
    ),
    params_model=IndexParams,
    run="workers.services.search.build:run",
    queue="index",
    extra="search",
    default_execution_duration=7200,
    cli="workers.services.index.cli:register_cli",
    check_inputs="workers.services.search.check:check_index_inputs",
)
