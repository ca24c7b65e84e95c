"""The search service's own settings: ``SPT_API_SEARCH_*``."""

from __future__ import annotations

from pydantic import Field

from spt_api.services import ServiceSettings, service_settings_config

__all__ = ["SearchSettings"]


class SearchSettings(ServiceSettings):
    model_config = service_settings_config("search")

    shard_queues: bool = Field(
        True,
        title="Send each shard's piece of a search to the queue search-shard-<i> (the shard workers, "
        "`spt-api worker --shard NAME:I`); false: to the search queue, any worker loading the shard on demand",
    )
    threads: int = Field(
        0,
        title="Threads FAISS uses in a worker process (OpenMP); 0: its default, one per core. On shared or "
        "busy cores 1 is faster: idle OpenMP threads spin",
        ge=0,
        le=1024,
    )
    worker_max_age: int = Field(
        300, title="A shard worker not seen for this many seconds is no longer listed with its index", ge=1
    )

