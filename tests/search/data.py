"""Test data of the search tests: seeded Gaussian clusters, stored as .npy objects, and exact answers."""

from __future__ import annotations

import io
from typing import Any

import httpx
import numpy as np

from tests.api.uws_helpers import JSON, wait_until_final
from tests.support.arrays import npy_bytes


def clusters(n: int, d: int, seed: int, centres: int = 20) -> np.ndarray:
    rng = np.random.default_rng(seed)
    middle = rng.normal(0, 4, (centres, d))
    which = rng.integers(0, centres, n)
    return (middle[which] + rng.normal(0, 1, (n, d))).astype(np.float32)


def put_npy(storage: Any, key: str, array: np.ndarray) -> str:
    storage.put_bytes(key, npy_bytes(array))
    return key


def exact(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, squared L2 distances) of the exact k nearest, in float64."""
    q = queries.astype(np.float64)
    v = vectors.astype(np.float64)
    d = (q * q).sum(1)[:, None] - 2 * q @ v.T + (v * v).sum(1)[None, :]
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return ids[order], np.take_along_axis(d, order, 1)


def run_job(client: httpx.Client, service: str, timeout: float = 120, **params: Any) -> dict[str, Any]:
    """Create and run a job, follow it to its end; its JSON, with its ``url`` added."""
    created = client.post(f"/api/{service}/jobs", data={**params, "PHASE": "RUN"}, headers=JSON)
    assert created.status_code == 303, created.text
    url = created.headers["Location"]
    job = wait_until_final(client, url, timeout)
    job["url"] = url
    return job


def build_index(client: httpx.Client, name: str, **params: Any) -> dict[str, Any]:
    """Run an index job that must complete (``params``: vectors, shards, factory...); its JSON."""
    job = run_job(client, "index", name=name, **params)
    assert job["phase"] == "COMPLETED", job
    return job


def neighbours(client: httpx.Client, job: dict[str, Any]) -> dict[str, np.ndarray]:
    answer = client.get(f"{job['url']}/results/neighbours", follow_redirects=True)
    assert answer.status_code == 200, answer.text
    with np.load(io.BytesIO(answer.content)) as data:
        return {name: data[name] for name in data.files}
