"""Parameters of the ``search`` service (light: imported by the API)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from spt_api.services import InputFile, ParamsModel, ServiceSpec
from workers.services.search import routing
from workers.services.search.layout import INDEX_NAME, shard_queue
from workers.services.search.settings import SearchSettings

__all__ = ["SERVICE", "SearchParams", "search_settings"]


class SearchParams(ParamsModel):
    index: str = Field(title="Name of the index to search", pattern=INDEX_NAME.pattern)
    queries: InputFile = Field(
        title="The query vectors: an uploaded .npy file of float32 [q, d], or a storage URI (s3://bucket/key or a key)",
    )
    k: int = Field(10, title="Neighbours per query", ge=1, le=1000)
    nprobe: int | None = Field(
        None, title="Inverted lists visited per query (IVF); default: the index's", ge=1, le=65536
    )
    # Set by the fan-out, not by users: which shard a piece searches, of which version, on which queue.
    shard: int | None = Field(None, title="Search only this shard (set by the fan-out)", ge=0, le=4095)
    version: int | None = Field(None, title="Search this version of the index (set by the fan-out)", ge=1)
    shard_queue: bool = Field(False, title="Run on the shard's own queue (set by the fan-out)")


def queue_for(params: SearchParams) -> str:
    """A shard's piece goes to that shard's workers; a whole search of a one-shard index (as the last input
    check saw it) to that shard's workers too, which run it in place; any other to any search worker."""
    if params.shard is not None and params.shard_queue:
        return shard_queue(params.shard)
    if params.shard is None and params.version is None and routing.one_shard(params.index):
        return shard_queue(0)
    return "search"


SERVICE = ServiceSpec(
    name="search",
    title="Vector search",
    description=(
        "The k nearest neighbours of query vectors in a FAISS index (see /api/indexes), searched shard by shard "
        "and merged: result 'neighbours', an .npz with ids int64 [q, k] and distances float32 [q, k], best first "
        "(-1 ids where fewer than k exist), and the index version searched."
    ),
    params_model=SearchParams,
    run="workers.services.search.run:run",
    queue="search",
    queue_for=queue_for,
    settings=SearchSettings,
    extra="search",
    default_execution_duration=600,
    split="workers.services.search.run:split",
    merge="workers.services.search.run:merge",
    resources="workers.services.search.resources:resources",
    check_inputs="workers.services.search.check:check_search_inputs",
)


def search_settings(core: Any) -> SearchSettings:
    """The search service's settings under the core settings ``core``, read once per core settings object
    (``ServiceSpec.settings_for``): building a settings object reads the environment, a millisecond a time."""
    found = SERVICE.settings_for(core)
    assert isinstance(found, SearchSettings)
    return found
