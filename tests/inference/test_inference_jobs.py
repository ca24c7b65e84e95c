"""Inference jobs end to end on an embedded server: answers equal the original model's and a plain
onnxruntime session's, every result format, the submission checks, placement and new versions."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import httpx
import numpy as np
import onnxruntime
import pyarrow.parquet as pq
import pytest

from spt_api.testing import ServerThread
from tests.api.uws_helpers import JSON, wait_until_final
from tests.inference.models import Models, save, two_io_model
from tests.support._proc import wait_until
from tests.support.arrays import npy_bytes, npz_bytes

RTOL = 1e-5


def plain(models: Models, name: str, feed: dict[str, np.ndarray], version: int = 1) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(
        str(models.repository / name / str(version) / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    return session.run(None, feed)


def submit(client: httpx.Client, body: bytes, filename: str = "x.npy", **params: Any) -> httpx.Response:
    return client.post(
        "/api/inference/jobs",
        data={**{k: str(v) for k, v in params.items()}, "PHASE": "RUN"},
        files={"input": (filename, body)},
        headers=JSON,
    )


def result(client: httpx.Client, response: httpx.Response) -> tuple[dict[str, Any], bytes]:
    assert response.status_code == 303, response.text
    url = response.headers["Location"]
    job = wait_until_final(client, url, 120)
    assert job["phase"] == "COMPLETED", job
    return job, client.get(f"{url}/results/output", follow_redirects=True).content


def test_digits_classifier_matches_scikit_learn_and_onnxruntime(inference_server: ServerThread, models: Models) -> None:
    x = models.digits_x[1200:]
    with httpx.Client(base_url=inference_server.base_url, timeout=60) as client:
        job, body = result(client, submit(client, npy_bytes(x), model="digits", batch_size=100))
    out = np.load(io.BytesIO(body))
    assert sorted(out.files) == ["label", "probabilities"]
    label, probabilities = plain(models, "digits", {"X": x})
    np.testing.assert_allclose(out["probabilities"], probabilities, rtol=RTOL)
    assert np.array_equal(out["label"], label)
    assert np.array_equal(out["label"], models.digits.predict(x))
    np.testing.assert_allclose(out["probabilities"], models.digits.predict_proba(x), rtol=1e-4, atol=1e-6)
    assert np.array_equal(out["probabilities"].argmax(1), models.digits.predict_proba(x).argmax(1))
    assert job["progress"]["message"] == f"batch {-(-len(x) // 100)} of {-(-len(x) // 100)}"


def test_conv_graph_matches_numpy_and_onnxruntime(inference_server: ServerThread, models: Models) -> None:
    images = np.random.default_rng(3).standard_normal((40, 1, 8, 8)).astype(np.float32)
    with httpx.Client(base_url=inference_server.base_url, timeout=60) as client:
        _, body = result(client, submit(client, npy_bytes(images), model="conv", output_format="npy"))
    features = np.load(io.BytesIO(body))  # npy: the single output
    np.testing.assert_allclose(features, plain(models, "conv", {"image": images})[0], rtol=RTOL)
    # The original: a 3x3 valid convolution (cross-correlation) of each image, then ReLU.
    windows = np.lib.stride_tricks.sliding_window_view(images[:, 0], (3, 3), axis=(1, 2))
    expected = np.maximum(np.einsum("nijkl,ckl->ncij", windows, models.conv_weight[:, 0]), 0)
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-5)


def test_two_inputs_two_outputs_in_every_format(inference_server: ServerThread, models: Models) -> None:
    rng = np.random.default_rng(5)
    a, b = (rng.standard_normal((1000, 4)).astype(np.float32) for _ in range(2))
    total, dot = plain(models, "pair", {"a": a, "b": b})
    np.testing.assert_allclose(total, a + b, rtol=RTOL)
    np.testing.assert_allclose(dot[:, 0], (a * b).sum(1), rtol=1e-4, atol=1e-6)
    with httpx.Client(base_url=inference_server.base_url, timeout=60) as client:
        _, body = result(client, submit(client, npz_bytes(a=a, b=b), "ab.npz", model="pair", batch_size=64))
        out = np.load(io.BytesIO(body))
        np.testing.assert_allclose(out["total"], total, rtol=RTOL)
        np.testing.assert_allclose(out["dot"], dot, rtol=RTOL)
        _, body = result(client, submit(client, npz_bytes(a=a, b=b), "ab.npz", model="pair", output_format="parquet"))
    table = pq.read_table(io.BytesIO(body))
    assert table.column_names == ["total", "dot"]
    np.testing.assert_allclose(np.array(table.column("total").to_pylist(), np.float32), total, rtol=RTOL)


@pytest.mark.parametrize(
    ("params", "body", "parameter", "message"),
    [
        ({"model": "nosuch"}, "digits", "model", "no model 'nosuch' in the model repository"),
        ({"model": "digits", "version": "7"}, "digits", "version", "model 'digits' has no version 7 (it has 1)"),
        ({"model": "torchy"}, "digits", "model", "backend 'pytorch' is not supported here"),
        ({"model": "digits"}, "f64", "input", "input 'X' is float64; model 'digits' takes float32"),
        ({"model": "digits"}, "rank1", "input", "has shape [64] (rank 1); model 'digits' takes rank 2: [?, 64]"),
        ({"model": "conv"}, "conv9", "input",
         "input 'image' has 9 in dimension 2; model 'conv' takes [?, 1, 8, 8]"),
        ({"model": "pair"}, "digits", "input", "model 'pair' has 2 inputs (a, b): send an .npz keyed by input name"),
        ({"model": "pair"}, "only_a", "input", "the .npz has no array 'b' (model 'pair' takes a, b)"),
        ({"model": "pair", "output_format": "npy"}, "ab", "output_format", "npy holds one array"),
        ({"model": "conv", "batch_size": "32"}, "conv", "batch_size",
         "32 is above the max_batch_size of model 'conv', 16"),
        ({"model": "digits"}, "garbage", "input", "neither a .npy nor a .npz file"),
        ({"model": "digits"}, "truncated", "input", "truncated .npy file"),
    ],
)
def test_bad_submissions_are_400_naming_the_input(
    inference_server: ServerThread, params: dict[str, str], body: str, parameter: str, message: str
) -> None:
    x = np.zeros((3, 64), np.float32)
    bodies = {
        "digits": npy_bytes(x),
        "f64": npy_bytes(x.astype(np.float64)),
        "rank1": npy_bytes(x[0]),
        "conv": npy_bytes(np.zeros((2, 1, 8, 8), np.float32)),
        "conv9": npy_bytes(np.zeros((2, 1, 9, 8), np.float32)),
        "only_a": npz_bytes(a=np.zeros((2, 4), np.float32)),
        "ab": npz_bytes(a=np.zeros((2, 4), np.float32), b=np.zeros((2, 4), np.float32)),
        "garbage": b"\xff\xfe not an array",
        "truncated": npy_bytes(x)[:150],
    }
    with httpx.Client(base_url=inference_server.base_url, timeout=60) as client:
        response = submit(client, bodies[body], "x.npz" if body in ("only_a", "ab") else "x.npy", **params)
    assert response.status_code == 400, response.text
    assert response.json()["parameter"] == parameter
    assert message in response.json()["message"]


def test_a_gpu_model_never_falls_back_to_the_cpu(inference_server: ServerThread) -> None:
    a = np.ones((2, 4), np.float32)
    with httpx.Client(base_url=inference_server.base_url, timeout=60) as client:
        response = submit(client, npz_bytes(a=a, b=a), "ab.npz", model="pair_gpu")
        assert response.status_code == 303, response.text
        job = wait_until_final(client, response.headers["Location"], 60)
    assert job["phase"] == "ERROR"
    assert "CUDAExecutionProvider" in job["errorSummary"]["message"]


def test_a_new_version_is_used_without_restarting_and_sync_answers_the_file(
    inference_server: ServerThread, models: Models
) -> None:
    a = np.full((3, 4), 2.0, np.float32)
    with httpx.Client(base_url=inference_server.base_url, timeout=60) as client:
        _, body = result(client, submit(client, npz_bytes(a=a, b=a), "ab.npz", model="pair"))
        assert np.allclose(np.load(io.BytesIO(body))["total"], 4.0)
        save(two_io_model(scale=10.0), models.repository / "pair" / "2" / "model.onnx")
        try:
            _, body = result(client, submit(client, npz_bytes(a=a, b=a), "ab.npz", model="pair"))
            assert np.allclose(np.load(io.BytesIO(body))["total"], 40.0)
            _, body = result(client, submit(client, npz_bytes(a=a, b=a), "ab.npz", model="pair", version=1))
            assert np.allclose(np.load(io.BytesIO(body))["total"], 4.0)
            sync = client.post("/api/inference/sync", data={"model": "pair", "output_format": "npz"},
                               files={"input": ("ab.npz", npz_bytes(a=a, b=a))})
            assert sync.status_code == 200, sync.text
            assert np.allclose(np.load(io.BytesIO(sync.content))["total"], 40.0)
        finally:
            for path in sorted((models.repository / "pair" / "2").iterdir()):
                path.unlink()
            (models.repository / "pair" / "2").rmdir()


def test_the_npz_result_is_a_plain_numpy_archive(inference_server: ServerThread) -> None:
    with httpx.Client(base_url=inference_server.base_url, timeout=60) as client:
        _, body = result(client, submit(client, npy_bytes(np.zeros((5, 64), np.float32)), model="digits"))
    assert zipfile.ZipFile(io.BytesIO(body)).namelist() == ["label.npy", "probabilities.npy"]


def test_models_resource_lists_signatures_requirements_and_servers(inference_server: ServerThread) -> None:
    with httpx.Client(base_url=inference_server.base_url, timeout=60) as client:

        def listed() -> dict[str, Any] | None:
            models = {m["name"]: m for m in client.get("/api/models").json()["models"]}
            return models if models["digits"]["servers"] else None  # the pool has registered

        models = wait_until(listed, timeout=60, what="the embedded pool in /api/models")
        assert models["digits"]["inputs"] == [{"name": "X", "dtype": "float32", "shape": [-1, 64]}]
        assert models["digits"]["waiting"] is None
        assert models["conv"]["maxBatchSize"] == 16 and models["conv"]["queue"] == "inference-cpu"
        assert models["pair_gpu"]["requirements"] == ["cuda", "gpu", "onnx"]
        assert models["pair_gpu"]["servers"] == []
        assert models["pair_gpu"]["waiting"] == "waiting for a server with cuda, gpu"
        assert models["torchy"]["supported"] is False and "pytorch" in models["torchy"]["problem"]
        one = client.get("/api/models/pair").json()
        assert [o["name"] for o in one["outputs"]] == ["total", "dot"]
        missing = client.get("/api/models/nosuch", headers=JSON)
        assert missing.status_code == 404 and "no model 'nosuch'" in missing.json()["message"]


def test_the_api_process_never_imports_onnxruntime(models: Models, tmp_path: Any) -> None:
    """The API's whole path of an inference submission (app, services, the check reading the model's
    signature and the input's header) in a fresh process: onnxruntime, onnx and numpy stay unimported."""
    import subprocess
    import sys

    data = tmp_path / "input.npy"
    np.save(data, np.zeros((3, 64), np.float32))
    script = f"""
import sys
from spt_api.app import make_app
from spt_api.bootstrap import load_services
from spt_api.config import Settings
from spt_api.storage.local import LocalObjectStore
from spt_api.storage.inputs import StoredInputs
repo = {str(models.repository)!r}
settings = Settings(data_dir={str(tmp_path)!r}, service_settings={{"inference": {{"models_url": repo}}}})
spec = load_services(settings)["inference"]
params = spec.params_model.from_uws([("model", "digits"), ("input", "input.npy")])
from pathlib import Path
reader = StoredInputs(LocalObjectStore(Path({str(tmp_path)!r})), settings, spec.settings_for(settings))
spec.load_check_inputs()(params, reader)
spec.load_resources()
assert spec.queue_of(params) == "inference-cpu"
heavy = sorted(m for m in ("onnxruntime", "onnx", "numpy") if m in sys.modules)
print("HEAVY", heavy)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout, done.stdout


def test_a_parameter_update_is_checked_as_a_creation(inference_server: ServerThread) -> None:
    a = np.ones((2, 4), np.float32)
    with httpx.Client(base_url=inference_server.base_url, timeout=60) as client:
        created = client.post("/api/inference/jobs", data={"model": "pair"},
                              files={"input": ("ab.npz", npz_bytes(a=a, b=a))}, headers=JSON)
        assert created.status_code == 303
        url = created.headers["Location"]
        wrong = client.post(f"{url}/parameters", data={"model": "digits"}, headers=JSON)
        assert wrong.status_code == 400 and wrong.json()["parameter"] == "input"
        elsewhere = client.post(f"{url}/parameters", data={"model": "pair_gpu"}, headers=JSON)
        assert elsewhere.status_code == 400 and "queue 'inference-gpu'" in elsewhere.json()["message"]
        assert client.post(f"{url}/parameters", data={"batch_size": "2"}).status_code == 303
        assert client.post(f"{url}/phase", data={"PHASE": "RUN"}).status_code == 303
        assert wait_until_final(client, url, 60)["phase"] == "COMPLETED"
