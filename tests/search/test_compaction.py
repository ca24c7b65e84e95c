"""Live deletes and additions, and `spt-api index compact`: the swap, searches during it, a crash midway."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from spt_api.testing import ServerThread
from tests.search.data import JSON, build_index, clusters, exact, neighbours, put_npy, run_job
from workers.services.search import compact as compaction
from workers.services.search import layout

D, K = 8, 10


def _build(server: ServerThread, client: httpx.Client, name: str, n: int, seed: int) -> np.ndarray:
    vectors = clusters(n, D, seed=seed)
    put_npy(server.backends.jobs.objects, f"datasets/{name}/vectors.npy", vectors)
    build_index(client, name, vectors=f"datasets/{name}/vectors.npy", shards="2")
    return vectors


def _search(client: httpx.Client, name: str, queries_ref: str) -> dict[str, np.ndarray]:
    job = run_job(client, "search", index=name, queries=queries_ref, k=str(K))
    assert job["phase"] == "COMPLETED", job
    return neighbours(client, job)


def _check(answer: dict[str, np.ndarray], vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray) -> None:
    """The answer is the exact search of (vectors, ids): same distances, ids but for equally near ones."""
    truth, distances = exact(vectors, ids, queries, K)
    assert answer["ids"].shape == (len(queries), K) and (answer["ids"] >= 0).all()
    assert np.allclose(answer["distances"], distances, rtol=1e-4, atol=1e-3)
    assert (answer["ids"] != truth).mean() < 0.01


def test_deletes_filter_at_once_and_compaction_swaps_while_searches_run(
    server: ServerThread, client: httpx.Client, search_data_dir: Path
) -> None:
    storage = server.backends.jobs.objects
    vectors = _build(server, client, "live", 2000, seed=21)
    ids = np.arange(len(vectors), dtype=np.int64)
    queries = clusters(30, D, seed=22)
    put_npy(storage, "datasets/live/queries.npy", queries)
    before = _search(client, "live", "datasets/live/queries.npy")
    _check(before, vectors, ids, queries)

    # Deletes: the nearest neighbours of the first queries, gone from the very next search, k answers still.
    doomed = np.unique(before["ids"][:10, :3])
    deleted = client.post("/api/indexes/live/delete", data={"ids": ",".join(map(str, doomed))}, headers=JSON)
    assert deleted.status_code == 200 and deleted.json()["pending_log"] == 1, deleted.text
    kept = ~np.isin(ids, doomed)
    v1 = (vectors[kept], ids[kept])
    after_delete = _search(client, "live", "datasets/live/queries.npy")
    assert int(after_delete["version"]) == 1 and not np.isin(after_delete["ids"], doomed).any()
    _check(after_delete, *v1, queries)

    # Additions (near the queries): logged, searchable from the next version on.
    added = (queries + np.random.default_rng(23).normal(0, 0.01, queries.shape)).astype(np.float32)
    added_ids = np.arange(5000, 5000 + len(added), dtype=np.int64)
    put_npy(storage, "datasets/live/added.npy", added)
    put_npy(storage, "datasets/live/added_ids.npy", added_ids)
    logged = client.post("/api/indexes/live/vectors", data={"vectors": "datasets/live/added.npy",
                                                             "ids": "datasets/live/added_ids.npy"}, headers=JSON)
    assert logged.status_code == 200 and logged.json()["pending_log"] == 2, logged.text
    assert not np.isin(_search(client, "live", "datasets/live/queries.npy")["ids"], added_ids).any()
    v2 = (np.concatenate([v1[0], added]), np.concatenate([v1[1], added_ids]))

    # Searches in a loop while the compaction runs; each is checked against the version it reports.
    answers: list[dict[str, np.ndarray]] = []
    searched = threading.Condition()
    done = threading.Event()

    def search_loop() -> None:
        with httpx.Client(base_url=server.base_url, timeout=60) as own:
            while not done.is_set() or sum(int(a["version"]) == 2 for a in answers) < 2:
                answer = _search(own, "live", "datasets/live/queries.npy")
                with searched:
                    answers.append(answer)
                    searched.notify_all()

    def wait_for_a_search(name: str, version: int, shard: int) -> None:
        """Midway (a new shard uploaded, the swap not made yet), one more search completes."""
        with searched:
            seen = len(answers)
            assert searched.wait_for(lambda: len(answers) > seen, timeout=60)

    loop = threading.Thread(target=search_loop, daemon=True)
    loop.start()
    compaction.on_shard_uploaded = wait_for_a_search
    try:
        report = compaction.compact(storage, "live")
    finally:
        compaction.on_shard_uploaded = compaction._nothing
        done.set()
    loop.join(120)
    assert report["compacted"] and report["version"] == 2
    versions = [int(a["version"]) for a in answers]
    assert versions.count(1) >= 2 and versions.count(2) >= 2 and versions == sorted(versions), versions
    for answer in answers:
        _check(answer, *(v1 if int(answer["version"]) == 1 else v2), queries)
    assert np.isin(answers[-1]["ids"], added_ids).any()

    described = client.get("/api/indexes/live", headers=JSON).json()
    assert described["current_version"] == 2 and described["pending_log"] == 0
    assert described["count"] == len(v2[1]) and described["built_by"] == "compaction"
    # The CronJob's command: nothing pending, so nothing built; the log the old version included is tidied.
    rerun = subprocess.run([sys.executable, "-m", "spt_api", "index", "compact"], capture_output=True, text=True,
                           env={**os.environ, "SPT_API_DATA_DIR": str(search_data_dir)}, timeout=120, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert '"index": "live", "version": 2, "compacted": false' in rerun.stdout


def test_a_compaction_killed_midway_leaves_the_old_version_and_a_rerun_completes(
    server: ServerThread, client: httpx.Client, search_data_dir: Path
) -> None:
    storage = server.backends.jobs.objects
    vectors = _build(server, client, "crashy", 500, seed=31)
    queries = vectors[:5] + np.float32(0.001)
    put_npy(storage, "datasets/crashy/queries.npy", queries)
    assert client.post("/api/indexes/crashy/delete", data={"ids": "0,1,2,3,4"}).status_code == 200
    env = {**os.environ, "SPT_API_DATA_DIR": str(search_data_dir)}
    killed = subprocess.run(
        [sys.executable, "-c",
         "import os, sys\n"
         "from workers.services.search import compact\n"
         "compact.on_shard_uploaded = lambda name, version, shard: os._exit(9)\n"
         "from spt_api.cli import main\n"
         "sys.exit(main(['index', 'compact', 'crashy']))\n"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert killed.returncode == 9, killed.stderr
    assert storage.exists(layout.shard_key("crashy", 2, 0))  # half a version, unpublished
    assert layout.current_version(storage, "crashy") == 1
    answer = _search(client, "crashy", "datasets/crashy/queries.npy")
    assert int(answer["version"]) == 1 and not np.isin(answer["ids"], [0, 1, 2, 3, 4]).any()

    rerun = subprocess.run([sys.executable, "-m", "spt_api", "index", "compact", "crashy"], env=env,
                           capture_output=True, text=True, timeout=120, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert '"version": 2, "compacted": true' in rerun.stdout
    described: dict[str, Any] = client.get("/api/indexes/crashy", headers=JSON).json()
    assert (described["current_version"], described["count"], described["pending_log"]) == (2, 495, 0)
    answer = _search(client, "crashy", "datasets/crashy/queries.npy")
    assert int(answer["version"]) == 2 and not np.isin(answer["ids"], [0, 1, 2, 3, 4]).any()
