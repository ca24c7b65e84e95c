"""Placement by capability with two real Celery workers: a CPU server (queue inference-cpu, ``cpu,onnx``)
and, started later, a "GPU" server (queue inference-gpu, ``gpu,onnx,cuda`` by configuration, with no CUDA
provider). A GPU model's job waits QUEUED and says why until a server with gpu is live; it then runs
there only, and fails naming the missing provider rather than falling back to the CPU."""

from __future__ import annotations

import httpx
import numpy as np

from spt_api.testing import start_server_thread
from tests.api.uws_helpers import JSON, wait_until_final
from tests.conftest import ProductionInfra
from tests.inference.models import Models
from tests.support._proc import wait_until
from tests.support.arrays import npz_bytes
from tests.support.celery_worker import CeleryWorker
from tests.support.principals import SYSTEM


def test_jobs_go_to_the_server_whose_capabilities_fit(production_infra: ProductionInfra, models: Models) -> None:
    env = production_infra.env(SPT_API_INFERENCE_MODELS_URL=str(models.repository), SPT_API_SERVICES="inference")
    settings = production_infra.settings(
        services="inference", service_settings={"inference": {"models_url": str(models.repository)}}
    )
    server = start_server_thread(settings)
    cpu = CeleryWorker({**env, "SPT_API_WORKER_CAPABILITIES": "cpu,onnx"}, queues="inference-cpu",
                       concurrency=1, name="cpu").start()
    gpu = CeleryWorker({**env, "SPT_API_WORKER_CAPABILITIES": "gpu,onnx,cuda"}, queues="inference-gpu",
                       concurrency=1, name="gpu")
    store = server.backends.jobs.store
    a = np.ones((4, 4), np.float32)
    try:
        wait_until(lambda: any(w.serves("inference-cpu") for w in store.live_workers(SYSTEM, 30)),
                   timeout=90, what="the CPU worker's registration", proc=cpu.proc, log_path=cpu.log_path)
        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            def submit(model: str) -> str:
                response = client.post("/api/inference/jobs", data={"model": model, "PHASE": "RUN"},
                                       files={"input": ("ab.npz", npz_bytes(a=a, b=a))}, headers=JSON)
                assert response.status_code == 303, response.text
                return str(response.headers["Location"])

            gpu_job = submit("pair_gpu")
            waiting = client.get(gpu_job, headers=JSON).json()
            assert waiting["phase"] == "QUEUED"
            assert waiting["progress"]["message"] == "waiting for a server with cuda, gpu (queue inference-gpu)"
            models_doc = {m["name"]: m for m in client.get("/api/models").json()["models"]}
            assert models_doc["pair_gpu"]["waiting"] == "waiting for a server with cuda, gpu"
            assert [s["workerId"] for s in models_doc["pair"]["servers"]] and not models_doc["pair_gpu"]["servers"]

            cpu_job = submit("pair")
            assert wait_until_final(client, cpu_job, 60)["phase"] == "COMPLETED"
            assert store.get(SYSTEM, cpu_job.rsplit("/", 1)[-1]).queue == "inference-cpu"
            # The CPU server never takes the GPU model's job.
            assert client.get(gpu_job, headers=JSON).json()["phase"] == "QUEUED"

            gpu.start()
            done = wait_until_final(client, gpu_job, 90)
            assert done["phase"] == "ERROR", done
            assert "CUDAExecutionProvider" in done["errorSummary"]["message"]
            assert "does not fall back to the CPU" in done["errorSummary"]["message"]
            live = {w.queues: w.capabilities for w in store.live_workers(SYSTEM, 30)}
            assert live[("inference-gpu",)] == {"gpu", "onnx", "cuda"}
    finally:
        gpu.stop()
        cpu.stop()
        server.stop()
