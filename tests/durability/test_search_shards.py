"""Search shard workers (`spt-api worker --shard NAME:I`) on the production stack: one killed with kill -9
in the middle of its piece; the reconciler requeues the piece onto its shard's queue, a restarted shard
worker runs it, and the search completes with the exact answer."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np

from spt_api.db import create_job_store
from spt_api.storage import create_object_store
from spt_api.uws.phases import ExecutionPhase
from tests.durability.stack import Stack, wait_for
from tests.search.data import clusters, exact, put_npy
from tests.support.celery_worker import CeleryWorker, ShardWorker
from tests.support.principals import SYSTEM
from tests.support.redisserver import PrivateRedis
from tests.support.s3server import SeaweedS3
from tests.support.server import RunningServer

THREADS = {"SPT_API_SEARCH_THREADS": "1", "SPT_API_INPUT_SHARED_PREFIXES": "datasets/"}


def _build_index(
    stack: Stack, server: RunningServer, name: str, shards: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Store seeded vectors and queries under ``datasets/NAME/`` and build the Flat index NAME of ``shards`` shards
    on a builder worker; return (vectors, queries). Big enough that a search runs for a while (4,000 queries
    against 40,000 vectors: 20,000 per shard with two)."""
    storage = create_object_store(stack.settings())
    vectors, queries = clusters(40_000, 64, seed=seed), clusters(4_000, 64, seed=seed + 1)
    put_npy(storage, f"datasets/{name}/vectors.npy", vectors)
    put_npy(storage, f"datasets/{name}/queries.npy", queries)
    builder = CeleryWorker(stack.env(**THREADS), queues="index,search", concurrency=1, name="builder").start()
    stack.workers.append(builder)
    build = server.create_job("index", run=True, name=name, vectors=f"datasets/{name}/vectors.npy", factory="Flat",
                              shards=shards)
    built = server.wait_final(build, timeout=120)
    assert built["phase"] == "COMPLETED", (built, builder.log_tail())
    return vectors, queries


def _assert_exact_answer(server: RunningServer, url: str, vectors: np.ndarray, queries: np.ndarray) -> None:
    """The search job's neighbours: from index version 1, k 20 for every query, and the exact ones."""
    with server.client() as client:
        answer = client.get(f"{url}/results/neighbours", follow_redirects=True)
    with np.load(io.BytesIO(answer.content)) as data:
        ids, version = data["ids"], int(data["version"])
    assert version == 1 and ids.shape == (4000, 20)
    truth, _ = exact(vectors, np.arange(len(vectors)), queries[:200], 20)
    assert (ids[:200] != truth).mean() < 0.01


def test_a_shard_worker_killed_mid_search_is_replaced_and_the_search_completes(
    make_stack: Callable[..., Stack], machine_db: str, private_redis: PrivateRedis, durability_s3: SeaweedS3
) -> None:
    stack = make_stack(machine_db, private_redis.url_for(9), durability_s3)
    server = stack.server(input_shared_prefixes="datasets/")
    vectors, queries = _build_index(stack, server, "faces", shards=2, seed=41)

    shards = {i: ShardWorker(stack.env(**THREADS), f"faces:{i}").start() for i in (0, 1)}
    stack.workers.extend(shards.values())

    def registered() -> list[str]:
        with server.client() as client:
            held = client.get("/api/indexes/faces", headers={"Accept": "application/json"}).json()["shard_workers"]
        return sorted(w["shard"] for w in held if w["source"] == "registry" and w["index_version"] == 1)

    # Each shard worker says in the live worker registry which shard it holds.
    wait_for(lambda: registered() == ["faces:0", "faces:1"], 60, "the shard workers in the registry")
    url = server.create_job("search", run=True, index="faces", queries="datasets/faces/queries.npy", k=20)
    job_id = url.rsplit("/", 1)[1]
    store = create_job_store(machine_db, run_migrations=False, pool_size=1)
    try:
        def piece_of_shard_1_running() -> bool:
            return any(child.queue == "search-shard-1" and child.phase == ExecutionPhase.EXECUTING
                       for child in store.children(SYSTEM, job_id))

        wait_for(piece_of_shard_1_running, 120, "shard 1's piece running", interval=0.02)
        shards[1].kill()
        replacement = ShardWorker(stack.env(**THREADS), "faces:1").start()
        stack.workers.append(replacement)
        job = server.wait_final(url, timeout=120)
        assert job["phase"] == "COMPLETED", (job, replacement.log_tail())
        pieces = {child.queue: child for child in store.children(SYSTEM, job_id)}
        assert set(pieces) == {"search-shard-0", "search-shard-1"}
        assert pieces["search-shard-1"].attempts == 2 and pieces["search-shard-0"].attempts == 1
    finally:
        store.engine.dispose()
    _assert_exact_answer(server, url, vectors, queries)


def test_a_one_shard_search_runs_whole_on_its_shard_worker_and_survives_its_death(
    make_stack: Callable[..., Stack], machine_db: str, private_redis: PrivateRedis, durability_s3: SeaweedS3
) -> None:
    """One shard: after the first search, the API sends each search whole to ``search-shard-0``, where the shard
    worker runs it in place (no piece, no merge). Killed mid-search, the job itself is requeued there and a
    restarted shard worker completes it."""
    stack = make_stack(machine_db, private_redis.url_for(10), durability_s3)
    server = stack.server(input_shared_prefixes="datasets/")
    vectors, queries = _build_index(stack, server, "solo", shards=1, seed=51)
    worker = ShardWorker(stack.env(**THREADS), "solo:0").start()
    stack.workers.append(worker)
    store = create_job_store(machine_db, run_migrations=False, pool_size=1)
    try:
        first = server.create_job("search", run=True, index="solo", queries="datasets/solo/queries.npy", k=20)
        assert server.wait_final(first, timeout=120)["phase"] == "COMPLETED", worker.log_tail()
        url = server.create_job("search", run=True, index="solo", queries="datasets/solo/queries.npy", k=20)
        job_id = url.rsplit("/", 1)[1]

        def running() -> bool:
            job = store.get(SYSTEM, job_id)
            return job is not None and job.phase == ExecutionPhase.EXECUTING

        wait_for(running, 120, "the search running on the shard worker", interval=0.02)
        worker.kill()
        replacement = ShardWorker(stack.env(**THREADS), "solo:0").start()
        stack.workers.append(replacement)
        job = server.wait_final(url, timeout=120)
        assert job["phase"] == "COMPLETED", (job, replacement.log_tail())
        stored = store.get(SYSTEM, job_id)
        assert stored is not None and stored.queue == "search-shard-0" and stored.attempts == 2
        assert store.children(SYSTEM, job_id) == []
    finally:
        store.engine.dispose()
    _assert_exact_answer(server, url, vectors, queries)
