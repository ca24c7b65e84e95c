"""Inference throughput: rows/s of an inference job against a plain onnxruntime loop in one process.

A 3-layer MLP (64 → 256 → 256 → 10, made here with onnx.helper) over ROWS x 64 float32 rows in batches
of 256. The job reads its input by reference from the embedded server's store (so the upload is not
timed) and writes an .npz result; the yardstick is ``session.run`` over the same batches in this
process (ARCHITECTURE.md: heavy jobs ≥ 0.90 of the raw library). Also the time to first result of a
sync request for one row against a warm ``session.run`` of one row (the job path's fixed cost).

    python bench/inference.py            # 1,000,000 rows
    python bench/inference.py --rows 100000
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import onnx
import onnxruntime

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spt_api.config import Settings
from spt_api.testing import start_server_thread
from workers.embedded import POOL_NICENESS
from workers.services.inference.demo import mlp_model

BATCH = 256
FEATURES = 64


def mlp(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(mlp_model([FEATURES, 256, 256, 10]), str(path))
    return path


def plain_loop(model: Path, data: Path, niceness: int = 0) -> tuple[float, np.ndarray]:
    """``session.run`` over the batches in one process (at ``niceness``, as the embedded pool runs)."""
    if niceness:
        os.nice(niceness)
    x = np.load(data)
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    session.run(["y"], {"x": x[:BATCH]})  # warm
    out = np.empty((len(x), 10), np.float32)
    start = time.perf_counter()
    for i in range(0, len(x), BATCH):
        out[i : i + BATCH] = session.run(["y"], {"x": x[i : i + BATCH]})[0]
    return time.perf_counter() - start, out


def plain_loop_apart(model: Path, data: Path, niceness: int) -> tuple[float, np.ndarray]:
    """:func:`plain_loop` in a process of its own with the pool's niceness: the same CPU share as the job's."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(plain_loop, (model, data, niceness))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sync-samples", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="alternate loop and job this often; best of each")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="spt-bench-inference-") as tmp:
        root = Path(tmp)
        model = mlp(root / "models" / "mlp" / "1" / "model.onnx")
        x = np.random.default_rng(1).standard_normal((args.rows, FEATURES)).astype(np.float32)
        settings = Settings(
            data_dir=root / "data", embedded_pool_size=1, wait_max=600, services="inference",
            service_settings={"inference": {"models_url": str(root / "models")}}, max_body_size=64 << 20,
            # The rows are named by key, as data an operator shares: only such keys may be named.
            input_shared_prefixes="datasets",
        )
        (root / "data" / "results" / "datasets").mkdir(parents=True)
        data = root / "data" / "results" / "datasets" / "x.npy"
        np.save(data, x)
        server = start_server_thread(settings)
        try:
            phases: list[dict] = []
            with httpx.Client(base_url=server.base_url, timeout=900) as client:
                def job(rows_ref: str) -> tuple[float, str]:
                    start = time.perf_counter()
                    created = client.post("/api/inference/jobs", data={
                        "model": "mlp", "input": rows_ref, "batch_size": str(BATCH), "PHASE": "RUN"})
                    url = created.headers["Location"]
                    while True:
                        doc = client.get(url, params={"WAIT": "600"}, headers={"Accept": "application/json"}).json()
                        if doc["phase"] not in ("PENDING", "QUEUED", "EXECUTING"):
                            break
                    assert doc["phase"] == "COMPLETED", doc
                    phases.append(doc)
                    return time.perf_counter() - start, url

                np.save(root / "data" / "results" / "datasets" / "warm.npy", x[:BATCH])
                job("datasets/warm.npy")  # the pool process loads the model once (its session cache)
                raw_runs, job_runs = [], []
                for _ in range(args.repeat):
                    # Alternated, best of each: the machine's other load weighs on both alike.
                    raw_seconds, expected = plain_loop_apart(model, data, POOL_NICENESS)
                    raw_runs.append(raw_seconds)
                    job_seconds, url = job("datasets/x.npy")
                    job_runs.append(job_seconds)
                raw_seconds, job_seconds = min(raw_runs), min(job_runs)
                body = client.get(f"{url}/results/output").content
                got = np.load(io.BytesIO(body))["y"]
                same = np.allclose(got, expected, rtol=1e-5) and np.array_equal(got.argmax(1), expected.argmax(1))

                one = io.BytesIO()
                np.save(one, x[:1])
                sync_times = []
                for _ in range(args.sync_samples):
                    start = time.perf_counter()
                    answer = client.post("/api/inference/sync", data={"model": "mlp"},
                                         files={"input": ("one.npy", one.getvalue())})
                    sync_times.append(time.perf_counter() - start)
                    assert answer.status_code == 200, answer.text
        finally:
            server.stop()
        session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        warm = []
        for _ in range(args.sync_samples):
            start = time.perf_counter()
            session.run(["y"], {"x": x[:1]})
            warm.append(time.perf_counter() - start)
    raw_rate, job_rate = args.rows / raw_seconds, args.rows / job_seconds
    print(f"rows: {args.rows} x {FEATURES} float32, MLP 64-256-256-10, batch {BATCH}")
    print(f"plain onnxruntime loop (one process, niceness {POOL_NICENESS} as the pool): {raw_rate:,.0f} rows/s "
          f"({raw_seconds:.2f} s; runs {', '.join(f'{r:.2f}' for r in raw_runs)})")
    print(f"inference job (submit to COMPLETED): {job_rate:,.0f} rows/s ({job_seconds:.2f} s; "
          f"runs {', '.join(f'{r:.2f}' for r in job_runs)})")
    doc = phases[-1]
    print(f"last job: created {doc['creationTime']}, started {doc['startTime']}, ended {doc['endTime']}")
    print(f"ratio job / plain: {job_rate / raw_rate:.3f} (goal >= 0.90); same answers: {same}")
    sync_ms, warm_ms = statistics.median(sync_times) * 1e3, statistics.median(warm) * 1e3
    print(f"sync time to first result, one row: median {sync_ms:.1f} ms; warm session.run: {warm_ms:.3f} ms; "
          f"fixed cost of the job path: {sync_ms - warm_ms:.1f} ms")


if __name__ == "__main__":
    main()
