"""Vector search on the embedded stack: exact Flat answers, shards, IVF recall, bad input, the index resources.

Data are seeded Gaussian clusters; the truth is exact numpy search (float64).
"""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faiss
import httpx
import numpy as np
import pytest

from spt_api.services import UsageError
from spt_api.storage.inputs import StoredInputs
from spt_api.testing import ServerThread
from tests.api.uws_helpers import wait_until_final
from tests.search.data import JSON, build_index, clusters, exact, neighbours, put_npy, run_job
from tests.support.arrays import npy_bytes
from workers.services.search import run as search_run
from workers.services.search.faiss_index import recall_at
from workers.services.search.params import SearchParams

N, D = 3000, 16


@pytest.fixture(scope="module")
def flat(server: ServerThread, client: httpx.Client) -> dict[str, Any]:
    """One Flat index over 1 shard and the same over 4, with the data and queries stored."""
    storage = server.backends.jobs.objects
    vectors, queries = clusters(N, D, seed=1), clusters(40, D, seed=2)
    ids = np.arange(N, dtype=np.int64) * 7 + 3  # ids of our choosing, spread over the shards
    put_npy(storage, "datasets/flat/vectors.npy", vectors)
    put_npy(storage, "datasets/flat/ids.npy", ids)
    put_npy(storage, "datasets/flat/queries.npy", queries)
    for name, shards in (("flat1", 1), ("flat4", 4)):
        build_index(client, name, vectors="datasets/flat/vectors.npy", ids="datasets/flat/ids.npy", shards=str(shards))
    return {"vectors": vectors, "ids": ids, "queries": queries}


def _assert_exact(found: np.ndarray, distances: np.ndarray, truth: np.ndarray, true_d: np.ndarray) -> None:
    """The exact neighbours: the same ids, except where two are equally near (float32 rounding)."""
    assert np.allclose(distances, true_d, rtol=1e-4, atol=1e-3)
    differ = found != truth
    assert differ.mean() < 0.01, differ.mean()


def test_flat_answers_are_exact_and_4_shards_equal_1(client: httpx.Client, flat: dict[str, Any]) -> None:
    truth, true_d = exact(flat["vectors"], flat["ids"], flat["queries"], 10)
    answers = {}
    for name in ("flat1", "flat4"):
        job = run_job(client, "search", index=name, queries="datasets/flat/queries.npy", k="10")
        assert job["phase"] == "COMPLETED", job
        answers[name] = neighbours(client, job)
        assert answers[name]["ids"].dtype == np.int64 and answers[name]["ids"].shape == (40, 10)
        assert answers[name]["distances"].dtype == np.float32
        assert int(answers[name]["version"]) == 1
        _assert_exact(answers[name]["ids"], answers[name]["distances"], truth, true_d)
    # The 4-shard search fanned out: one piece per shard.
    assert run_job(client, "search", index="flat4", queries="datasets/flat/queries.npy")["progress"]["total"] == 4
    assert np.array_equal(answers["flat4"]["ids"], answers["flat1"]["ids"])
    assert np.array_equal(answers["flat4"]["distances"], answers["flat1"]["distances"])


def test_fewer_than_k_are_padded_and_sync_answers_the_npz(
    server: ServerThread, client: httpx.Client, flat: dict[str, Any]
) -> None:
    storage = server.backends.jobs.objects
    small = clusters(5, D, seed=9)
    put_npy(storage, "datasets/small/vectors.npy", small)
    build_index(client, "small", vectors="datasets/small/vectors.npy", shards="2")
    answer = client.post("/api/search/sync", data={"index": "small", "queries": "datasets/flat/queries.npy", "k": "8"})
    assert answer.status_code == 200, answer.text
    with np.load(io.BytesIO(answer.content)) as data:
        ids, distances = data["ids"], data["distances"]
    assert ids.shape == (40, 8)
    assert (ids[:, :5] >= 0).all() and (ids[:, 5:] == -1).all() and np.isinf(distances[:, 5:]).all()
    assert (np.diff(distances[:, :5], axis=1) >= 0).all()


def test_ivf_recall_is_that_of_plain_faiss(server: ServerThread, client: httpx.Client) -> None:
    n, d, factory, sample, seed, nprobe = 20_000, 32, "IVF64,PQ8", 4000, 5, 4
    vectors, queries = clusters(n, d, seed=11, centres=50), clusters(100, d, seed=12, centres=50)
    storage = server.backends.jobs.objects
    put_npy(storage, "datasets/ivf/vectors.npy", vectors)
    put_npy(storage, "datasets/ivf/queries.npy", queries)
    build_index(client, "ivf", vectors="datasets/ivf/vectors.npy", factory=factory, train_sample=str(sample),
                seed=str(seed), shards="2")
    described = client.get("/api/indexes/ivf", headers=JSON).json()
    assert described["factory"] == factory and described["train_sample"] == sample and described["count"] == n
    assert 0.3 < described["recall_at_10"] <= 1.0
    found = neighbours(client, run_job(client, "search", index="ivf", queries="datasets/ivf/queries.npy",
                                       nprobe=str(nprobe)))["ids"]
    plain = faiss.index_factory(d, factory)
    faiss.downcast_index(plain).do_polysemous_training = False  # as the service: a minute of annealing
    plain.train(vectors[np.sort(np.random.default_rng(seed).choice(n, sample, replace=False))])
    plain.add(vectors)
    plain.nprobe = nprobe
    _, plain_ids = plain.search(queries, 10)
    truth, _ = exact(vectors, np.arange(n), queries, 10)
    ours, theirs = recall_at(found, truth), recall_at(plain_ids, truth)
    assert abs(ours - theirs) <= 0.02, (ours, theirs)


class _Context:
    """What the search's run needs of a job context, for calling it directly."""

    def __init__(self, server: ServerThread, workdir: Path) -> None:
        self.settings = server.settings
        self.workdir = workdir
        self.runtime = SimpleNamespace(objects=server.backends.jobs.objects)

    def progress(self, done: int, total: int, message: str = "") -> None:
        return None

    def input_path(self, ref: str) -> Path:
        return StoredInputs(self.runtime.objects, self.settings).download(ref, self.workdir / "input.npy")


def test_bad_queries_are_400_naming_them(
    server: ServerThread, client: httpx.Client, flat: dict[str, Any], tmp_path: Path
) -> None:
    storage = server.backends.jobs.objects
    put_npy(storage, "datasets/bad/dim.npy", flat["queries"][:, :8])
    put_npy(storage, "datasets/bad/f64.npy", flat["queries"].astype(np.float64))
    storage.put_bytes("datasets/bad/text.npy", b"not an array")
    cases = {
        "datasets/bad/dim.npy": "queries: expected shape [q, 16] (the index's dimension), got [40, 8]",
        "datasets/bad/f64.npy": "queries: expected dtype float32 (<f4), got float64",
        "datasets/bad/text.npy": "queries: not a .npy file (it does not start with \\x93NUMPY)",
        # A reference to nothing: refused by the core's check of InputFile parameters.
        "datasets/bad/missing.npy": (
            "parameter 'queries': no stored input 'datasets/bad/missing.npy' that you may read: upload the file, "
            "name an upload of one of your jobs (inputs/<job id>/<file name>), or name an object under datasets/"
        ),
    }
    for ref, message in cases.items():
        answer = client.post("/api/search/sync", data={"index": "flat4", "queries": ref}, headers=JSON)
        assert answer.status_code == 400, answer.text
        assert answer.json()["message"] == message
        # Checked from the header in the API: no job is created.
        refused = client.post("/api/search/jobs", data={"index": "flat4", "queries": ref}, headers=JSON)
        assert refused.status_code == 400 and refused.json()["parameter"] == "queries", refused.text
        assert refused.json()["message"] == message
        if "missing" in ref:
            continue
        # The worker checks again (a stored object may change between the check and the run).
        with pytest.raises(UsageError, match=r"^queries: "):
            search_run.run(SearchParams(index="flat4", queries=ref), _Context(server, tmp_path))
    # A missing input is the error said, whatever else is wrong (the service's check runs while it is read).
    both = client.post("/api/search/jobs", data={"index": "nope", "queries": "datasets/bad/missing.npy"}, headers=JSON)
    assert both.status_code == 400 and both.json()["message"] == cases["datasets/bad/missing.npy"], both.text
    for params, parameter in (({"k": "0"}, "k"), ({"k": "1001"}, "k"), ({"index": "No/pe"}, "index")):
        answer = client.post("/api/search/jobs", data={"index": "flat4", "queries": "q.npy", **params}, headers=JSON)
        assert answer.status_code == 400 and answer.json()["parameter"] == parameter, answer.text
    unknown = client.post("/api/search/sync", data={"index": "nope", "queries": "datasets/flat/queries.npy"},
                          headers=JSON)
    assert unknown.status_code == 400 and unknown.json()["message"] == "no index named 'nope'"


def test_index_build_refuses_bad_vectors_and_an_existing_name(
    server: ServerThread, client: httpx.Client, flat: dict[str, Any]
) -> None:
    storage = server.backends.jobs.objects
    put_npy(storage, "datasets/bad/ints.npy", np.zeros((10, 4), dtype=np.int32))
    refused = client.post("/api/index/jobs", data={"name": "ints", "vectors": "datasets/bad/ints.npy"}, headers=JSON)
    assert refused.status_code == 400 and refused.json()["parameter"] == "vectors"
    assert refused.json()["message"] == "vectors: expected float32 [n, d], got dtype int32 shape [10, 4]"
    again = run_job(client, "index", name="flat1", vectors="datasets/flat/vectors.npy")
    assert again["phase"] == "ERROR" and "an index named 'flat1' exists" in again["errorSummary"]["message"]
    wrong = run_job(client, "index", name="wrong", vectors="datasets/flat/vectors.npy", factory="IVFxyz")
    assert wrong["phase"] == "ERROR" and wrong["errorSummary"]["message"].startswith("factory: FAISS cannot build")


def test_index_resources(server: ServerThread, client: httpx.Client, flat: dict[str, Any]) -> None:
    listed = client.get("/api/indexes", headers=JSON).json()["indexes"]
    assert {"flat1", "flat4"} <= {i["name"] for i in listed}
    flat4 = client.get("/api/indexes/flat4", headers=JSON).json()
    assert (flat4["current_version"], flat4["shards"], flat4["count"], flat4["dimension"]) == (1, 4, N, D)
    assert flat4["factory"] == "Flat" and flat4["metric"] == "L2" and flat4["recall_at_10"] == 1.0
    assert flat4["pending_log"] == 0
    # The embedded pool's processes that searched it hold its shards and say so.
    assert flat4["shard_workers"] and all(w["shard"].startswith("flat4:") for w in flat4["shard_workers"])
    missing = client.get("/api/indexes/nope", headers=JSON)
    assert missing.status_code == 404 and missing.json()["message"] == "no index named 'nope'"
    storage = server.backends.jobs.objects
    put_npy(storage, "datasets/bad/add.npy", flat["vectors"][:3, :5])
    bad = client.post("/api/indexes/flat4/vectors", data={"vectors": "datasets/bad/add.npy", "ids": "1,2,3"},
                      headers=JSON)
    assert bad.status_code == 400 and bad.json()["parameter"] == "vectors"
    assert bad.json()["message"] == "vectors: expected shape [n, 16] (the index's dimension), got [3, 5]"
    bad = client.post("/api/indexes/flat4/delete", data={"ids": "1,-2"}, headers=JSON)
    assert bad.status_code == 400 and bad.json()["parameter"] == "ids"
    assert client.post("/api/indexes/flat4/delete", data={}, headers=JSON).status_code == 400
    put_npy(storage, "datasets/gone/vectors.npy", flat["vectors"][:20])
    build_index(client, "gone", vectors="datasets/gone/vectors.npy")
    deleted = client.delete("/api/indexes/gone", headers=JSON)
    assert deleted.status_code == 200 and deleted.json()["deleted"] == "gone"
    assert client.get("/api/indexes/gone", headers=JSON).status_code == 404
    assert client.delete("/api/indexes/gone", headers=JSON).status_code == 404


def test_an_index_deleted_and_built_again_is_searched_as_the_new_one(
    server: ServerThread, client: httpx.Client
) -> None:
    """The new index of the same name gets a version its predecessor never had: the workers keep manifests and
    shards by name and version, and must not answer from the deleted one's."""
    storage = server.backends.jobs.objects
    old, new, queries = clusters(300, 8, seed=21), clusters(300, 8, seed=22) + 5, clusters(10, 8, seed=23)
    put_npy(storage, "datasets/again/old.npy", old)
    put_npy(storage, "datasets/again/new.npy", new)
    put_npy(storage, "datasets/again/queries.npy", queries)
    build_index(client, "again", vectors="datasets/again/old.npy")
    for _ in range(3):  # the pool's processes load and keep version 1
        job = run_job(client, "search", index="again", queries="datasets/again/queries.npy", k="5")
        assert job["phase"] == "COMPLETED", job
    assert client.delete("/api/indexes/again", headers=JSON).status_code == 200
    build_index(client, "again", vectors="datasets/again/new.npy")
    assert client.get("/api/indexes/again", headers=JSON).json()["current_version"] == 2
    truth, _ = exact(new, np.arange(300), queries, 5)
    for _ in range(3):
        job = run_job(client, "search", index="again", queries="datasets/again/queries.npy", k="5")
        assert job["phase"] == "COMPLETED", job
        answer = neighbours(client, job)
        assert int(answer["version"]) == 2 and (answer["ids"] == truth).all()


def test_uploaded_npy_files(client: httpx.Client, flat: dict[str, Any]) -> None:
    """Vectors and queries as multipart file parts: stored byte for byte, checked from their headers."""
    vectors = flat["vectors"][:500]
    built = client.post("/api/index/jobs", data={"name": "uploaded", "PHASE": "RUN"},
                        files={"vectors": ("v.npy", npy_bytes(vectors), "application/octet-stream")}, headers=JSON)
    assert built.status_code == 303, built.text
    job = wait_until_final(client, built.headers["Location"], timeout=120)
    assert job["phase"] == "COMPLETED", job
    queries = flat["queries"][:5]
    answer = client.post("/api/search/sync", data={"index": "uploaded", "k": "3"},
                         files={"queries": ("q.npy", npy_bytes(queries), "application/octet-stream")})
    assert answer.status_code == 200, answer.text
    with np.load(io.BytesIO(answer.content)) as data:
        truth, _ = exact(vectors, np.arange(500), queries, 3)
        assert (data["ids"] != truth).mean() < 0.01
    wrong = client.post("/api/search/sync", data={"index": "uploaded"}, headers=JSON,
                        files={"queries": ("q.npy", npy_bytes(queries.astype(np.float16)), "application/octet-stream")})
    assert wrong.status_code == 400 and wrong.json()["parameter"] == "queries"
    assert wrong.json()["message"] == "queries: expected dtype float32 (<f4), got float16"


def test_log_endpoints_take_uploaded_npy_files(server: ServerThread, client: httpx.Client) -> None:
    """/vectors and /delete take multipart .npy parts: checked from their headers, kept in the log, and the
    request's own upload objects are gone after the call."""
    storage = server.backends.jobs.objects
    vectors = clusters(200, D, seed=41)
    put_npy(storage, "datasets/logup/vectors.npy", vectors)
    build_index(client, "logup", vectors="datasets/logup/vectors.npy")
    octet = "application/octet-stream"
    added = client.post(
        "/api/indexes/logup/vectors", headers=JSON,
        files={"vectors": ("add.npy", npy_bytes(vectors[:4] + 1), octet),
               "ids": ("ids.npy", npy_bytes(np.array([900, 901, 902, 903], dtype=np.int64)), octet)},
    )
    assert added.status_code == 200, added.text
    assert (added.json()["op"], added.json()["count"], added.json()["pending_log"]) == ("add", 4, 1)
    deleted = client.post("/api/indexes/logup/delete", headers=JSON,
                          files={"ids": ("d.npy", npy_bytes(np.array([5, 6], dtype=np.int64)), octet)})
    assert deleted.status_code == 200, deleted.text
    assert (deleted.json()["op"], deleted.json()["count"], deleted.json()["pending_log"]) == ("delete", 2, 2)
    wrong = client.post("/api/indexes/logup/vectors", headers=JSON,
                        files={"vectors": ("add.npy", npy_bytes(vectors[:4, :3]), octet)}, data={"ids": "1,2,3,4"})
    assert wrong.status_code == 400 and wrong.json()["parameter"] == "vectors"
    assert not [key for key in storage.list_keys("inputs/") if "/resource-" in key]
    # The deletes take effect at once: ids 5 and 6 are never answered.
    answer = client.post("/api/search/sync", data={"index": "logup", "k": "10"},
                         files={"queries": ("q.npy", npy_bytes(vectors[4:8]), octet)})
    assert answer.status_code == 200, answer.text
    with np.load(io.BytesIO(answer.content)) as data:
        found = data["ids"]
    assert found.shape == (4, 10) and not np.isin(found, [5, 6]).any()
