"""The GPU check of the inference service, for a machine with an NVIDIA GPU and onnxruntime-gpu.

    pip install -e '.[inference]' && pip uninstall -y onnxruntime && pip install onnxruntime-gpu
    python bench/inference_gpu.py --rows 200000

Builds the bench's 3-layer MLP with a ``config.pbtxt`` of ``instance_group { kind: KIND_GPU }``, starts
an embedded server (its pool detects ``gpu,onnx,cuda``), checks ``/api/models`` lists a server for the
GPU model, runs an inference job of it and compares the answer with a CPU session's (allclose, rtol
1e-4; identical argmax), then prints the job's rows/s against a plain CUDA session loop. Without the
CUDA provider or a GPU it says so and exits 0 (nothing to check).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import onnxruntime

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inference import BATCH, FEATURES, mlp

from spt_api.config import Settings
from spt_api.testing import start_server_thread
from workers.capabilities import detect_capabilities


def loop(session: onnxruntime.InferenceSession, x: np.ndarray) -> tuple[float, np.ndarray]:
    session.run(["y"], {"x": x[:BATCH]})
    out = np.empty((len(x), 10), np.float32)
    start = time.perf_counter()
    for i in range(0, len(x), BATCH):
        out[i : i + BATCH] = session.run(["y"], {"x": x[i : i + BATCH]})[0]
    return time.perf_counter() - start, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    capabilities = detect_capabilities()
    print(f"onnxruntime {onnxruntime.__version__}, providers {onnxruntime.get_available_providers()}")
    print(f"detected capabilities: {sorted(capabilities)}")
    if "gpu" not in capabilities:
        print("no CUDA provider or no visible GPU: nothing to check")
        return 0
    with tempfile.TemporaryDirectory(prefix="spt-gpu-check-") as tmp:
        root = Path(tmp)
        model = mlp(root / "models" / "mlp_gpu" / "1" / "model.onnx")
        (root / "models" / "mlp_gpu" / "config.pbtxt").write_text('backend: "onnxruntime"\n'
                                                                 "instance_group [ { kind: KIND_GPU } ]\n")
        x = np.random.default_rng(1).standard_normal((args.rows, FEATURES)).astype(np.float32)
        (root / "data" / "results" / "datasets").mkdir(parents=True)
        np.save(root / "data" / "results" / "datasets" / "x.npy", x)
        _, cpu_out = loop(onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"]), x)
        cuda_seconds, cuda_out = loop(onnxruntime.InferenceSession(str(model), providers=["CUDAExecutionProvider"]), x)
        settings = Settings(data_dir=root / "data", embedded_pool_size=1, wait_max=600, services="inference",
                            service_settings={"inference": {"models_url": str(root / "models")}})
        server = start_server_thread(settings)
        try:
            with httpx.Client(base_url=server.base_url, timeout=600) as client:
                for _ in range(120):
                    listed = {m["name"]: m for m in client.get("/api/models").json()["models"]}
                    if listed["mlp_gpu"]["servers"]:
                        break
                    time.sleep(0.5)  # sleep-ok: a one-off check script, not a test
                print(f"/api/models mlp_gpu: requirements {listed['mlp_gpu']['requirements']}, "
                      f"queue {listed['mlp_gpu']['queue']}, servers {listed['mlp_gpu']['servers']}")
                timings = []
                for _ in range(2):  # the first loads the model onto the GPU
                    start = time.perf_counter()
                    created = client.post("/api/inference/jobs", data={
                        "model": "mlp_gpu", "input": "datasets/x.npy", "batch_size": str(BATCH), "PHASE": "RUN"})
                    url = created.headers["Location"]
                    doc = {"phase": "QUEUED"}
                    while doc["phase"] in ("QUEUED", "EXECUTING"):
                        doc = client.get(url, params={"WAIT": "600"}, headers={"Accept": "application/json"}).json()
                    timings.append(time.perf_counter() - start)
                    assert doc["phase"] == "COMPLETED", doc
                job_out = np.load(io.BytesIO(client.get(f"{url}/results/output").content))["y"]
        finally:
            server.stop()
    same_cpu = np.allclose(job_out, cpu_out, rtol=1e-4, atol=1e-5)
    same_argmax = np.array_equal(job_out.argmax(1), cpu_out.argmax(1))
    print(f"GPU job vs CPU session: allclose(rtol=1e-4) {same_cpu}, identical argmax {same_argmax}")
    print(f"GPU job vs plain CUDA session: allclose(rtol=1e-5) {np.allclose(job_out, cuda_out, rtol=1e-5)}")
    job_rate, raw_rate = args.rows / min(timings), args.rows / cuda_seconds
    print(f"plain CUDA loop {raw_rate:,.0f} rows/s; GPU job {job_rate:,.0f} rows/s; ratio {job_rate / raw_rate:.3f}")
    return 0 if same_cpu and same_argmax else 1


if __name__ == "__main__":
    raise SystemExit(main())
