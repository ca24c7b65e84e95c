"""A search of a one-shard index skips the fan-out: the API sends it whole to ``search-shard-0`` once it has
seen the index has one shard, and a worker holding that shard runs it in place (no piece, no merge).

The embedded pool's processes load shards on demand, so whether one holds the shard already is chance here;
tests/durability/test_search_shards.py checks the in-place run with a real shard worker."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pytest

from spt_api.testing import ServerThread
from tests.search.data import build_index, clusters, exact, neighbours, put_npy, run_job
from tests.support.principals import SYSTEM
from workers.services.search import routing
from workers.services.search import run as search_run
from workers.services.search.params import SearchParams, queue_for

N, D = 2000, 8


@pytest.fixture(scope="module")
def indexes(server: ServerThread, client: httpx.Client) -> dict[str, Any]:
    storage = server.backends.jobs.objects
    vectors, queries = clusters(N, D, seed=11), clusters(30, D, seed=12)
    put_npy(storage, "datasets/one/vectors.npy", vectors)
    put_npy(storage, "datasets/one/queries.npy", queries)
    for name, shards in (("one1", 1), ("one2", 2)):
        build_index(client, name, vectors="datasets/one/vectors.npy", factory="Flat", shards=str(shards))
    return {"vectors": vectors, "queries": queries}


def test_a_one_shard_search_goes_whole_to_the_shards_queue_and_runs_without_pieces(
    server: ServerThread, client: httpx.Client, indexes: dict[str, Any]
) -> None:
    store = server.backends.jobs.store
    truth, _ = exact(indexes["vectors"], np.arange(N), indexes["queries"], 5)
    for _ in range(2):  # the first search's input check notes the index's shard count
        job = run_job(client, "search", index="one1", queries="datasets/one/queries.npy", k="5")
        assert job["phase"] == "COMPLETED", job
        assert (neighbours(client, job)["ids"] != truth).mean() < 0.01
    stored = store.get(SYSTEM, job["jobId"])
    assert stored is not None and stored.queue == "search-shard-0"
    assert [c.queue for c in store.children(SYSTEM, job["jobId"])] in ([], ["search-shard-0"])
    # Two shards: fanned out as before, one piece per shard's queue.
    job = run_job(client, "search", index="one2", queries="datasets/one/queries.npy", k="5")
    assert job["phase"] == "COMPLETED", job
    assert (neighbours(client, job)["ids"] != truth).mean() < 0.01
    stored = store.get(SYSTEM, job["jobId"])
    assert stored is not None and stored.queue == "search"
    assert sorted(c.queue for c in store.children(SYSTEM, job["jobId"])) == ["search-shard-0", "search-shard-1"]


def test_the_route_follows_the_last_check() -> None:
    params = SearchParams(index="routed", queries="datasets/q.npy")
    assert queue_for(params) == "search"
    routing.note("routed", 1, shard_queues=True)
    assert queue_for(params) == "search-shard-0"
    # A pinned version, or a piece, keeps its own route.
    assert queue_for(params.model_copy(update={"version": 1})) == "search"
    assert queue_for(params.model_copy(update={"shard": 3, "shard_queue": True})) == "search-shard-3"
    routing.note("routed", 4, shard_queues=True)  # rebuilt with 4 shards
    assert queue_for(params) == "search"
    routing.note("routed", 1, shard_queues=False)  # pieces go to `search`: so does the whole job
    assert queue_for(params) == "search"


def test_the_split_runs_a_one_shard_search_in_place_only_where_the_shard_is_held(
    server: ServerThread, indexes: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    params = SearchParams(index="one1", queries="datasets/one/queries.npy", k=5)
    monkeypatch.setattr(search_run, "held", lambda: [])
    pieces = search_run.split(params, server.settings)
    assert [(p.shard, p.version, p.shard_queue) for p in pieces] == [(0, 1, True)]
    monkeypatch.setattr(search_run, "held", lambda: [SimpleNamespace(name="one1", shard=0, version=1)])
    assert search_run.split(params, server.settings) == [params]
    two = SearchParams(index="one2", queries="datasets/one/queries.npy", k=5)
    monkeypatch.setattr(search_run, "held", lambda: [SimpleNamespace(name="one2", shard=0, version=1)])
    assert [p.shard for p in search_run.split(two, server.settings)] == [0, 1]


class _MergeContext:
    def __init__(self) -> None:
        self.adopted: list[Any] = []
        self.written: list[Any] = []

    def adopt_result(self, result: Any) -> str:
        self.adopted.append(result)
        return str(result.result_id)

    def add_result(self, *args: Any, **kwargs: Any) -> str:
        self.written.append(args)
        return "neighbours"

    def read_result(self, result: Any) -> bytes:
        raise AssertionError("a one-piece merge reads nothing back")

    def progress(self, done: int, total: int, message: str = "") -> None:
        return None


def test_a_one_piece_merge_adopts_the_pieces_answer() -> None:
    params = SearchParams(index="one1", queries="datasets/one/queries.npy", k=5)
    result = SimpleNamespace(result_id="neighbours", key="results/search/child/neighbours.npz")
    child = SimpleNamespace(params=params.model_copy(update={"shard": 0, "version": 1}), phase="COMPLETED",
                            results=(result,), error_message=None, job_id="child")
    ctx = _MergeContext()
    search_run.merge(params, [child], ctx)  # type: ignore[list-item, arg-type]
    assert ctx.adopted == [result] and ctx.written == []


def test_a_shard_held_of_a_deleted_index_does_not_fail_the_next_split(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pool process still holding shard 0 of version 1 of an index deleted since (and built again above it)
    asks for version 1's manifest, now gone: that says only that it holds nothing of the new index."""
    from workers.services.search import layout, shards

    storage = server.backends.jobs.objects
    storage.put_bytes(layout.manifest_key("held-gone", 1), b'{"version": 1, "shards": 1}', "application/json")
    monkeypatch.setitem(shards._HELD, ("held-gone", 0), shards.LoadedShard("held-gone", 0, 1, None, 0))
    storage.delete_prefix(layout.prefix("held-gone"))
    assert search_run._holds_one_shard(storage, "held-gone") is False
