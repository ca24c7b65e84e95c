"""The model repository on its own: the session cache's bound and versions, the CLI, and S3."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from spt_api.config import Settings
from tests.inference.models import Models, save, two_io_model
from workers.services.inference.cli import add_model
from workers.services.inference.model_config import ConfigError, parse_config
from workers.services.inference.repository import ModelRepository
from workers.services.inference.sessions import SessionCache


def test_the_session_cache_is_bounded_and_keyed_by_the_model_file(models: Models, tmp_path: Path) -> None:
    repo = ModelRepository(str(models.repository), Settings(data_dir=tmp_path))
    digits, conv = repo.model("digits"), repo.model("conv")
    cache = SessionCache()
    first = cache.get(digits, models.repository / digits.key, ["CPUExecutionProvider"], 10)
    assert cache.get(digits, models.repository / digits.key, ["CPUExecutionProvider"], 10) is first
    assert cache.created == 1
    cache.get(conv, models.repository / conv.key, ["CPUExecutionProvider"], 10)
    assert len(cache.loaded()) == 2
    # The file replaced in place (a new stamp) is a new session; past the 1 MB bound the least recently
    # used go, and the newest stays even alone above it.
    replaced = type(conv)(**{**conv.__dict__, "stamp": "replaced", "size": 2 * 1024 * 1024})
    cache.get(replaced, models.repository / conv.key, ["CPUExecutionProvider"], 1)
    assert cache.created == 3
    assert [(k[0], k[2]) for k in cache.loaded()] == [("conv", "replaced")]


def test_models_add_checks_and_copies_and_list_shows_them(models: Models, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, service_settings={"inference": {"models_url": str(tmp_path / "repo")}})
    model = save(two_io_model(), tmp_path / "pair.onnx")
    assert add_model(settings, "pair", model) == 1
    assert add_model(settings, "pair", model) == 2
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(Exception, match=r"(?i)protobuf|load|parse|invalid"):
        add_model(settings, "broken", bad)
    config = tmp_path / "config.pbtxt"
    config.write_text("max_batch_size: 8\nno_such_field: 1\n")
    with pytest.raises(ConfigError, match="no_such_field"):
        add_model(settings, "pair", model, config=config)
    env = {**os.environ, "SPT_API_DATA_DIR": str(tmp_path), "SPT_API_INFERENCE_MODELS_URL": str(tmp_path / "repo")}
    listed = subprocess.run([sys.executable, "-m", "spt_api", "models", "list"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "pair  versions 1,2  inputs a:float32[-1, 4], b:float32[-1, 4]  requires cpu,onnx" in listed.stdout
    added = subprocess.run([sys.executable, "-m", "spt_api", "models", "add", "other", str(model), "--version", "5"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert added.returncode == 0 and "added model other version 5" in added.stdout
    assert (tmp_path / "repo" / "other" / "5" / "model.onnx").read_bytes() == model.read_bytes()


def test_a_triton_config_is_parsed_by_the_proto() -> None:
    config = parse_config(
        'name: "m"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 4\n'
        'input [ { name: "x" data_type: TYPE_FP16 dims: [ 3, -1 ] } ]\n'
        'output [ { name: "y" data_type: TYPE_INT64 dims: [ 1 ] } ]\n'
        "instance_group [ { kind: KIND_GPU count: 2 } ]\n"
        'parameters { key: "requirements" value { string_value: "fp16, avx512" } }\n', "m")
    assert (config.max_batch_size, config.device, config.is_onnx) == (4, "gpu", True)
    assert [(t.name, t.dtype, t.shape) for t in config.inputs] == [("x", "float16", (-1, 3, -1))]
    assert config.extra_requirements == {"fp16", "avx512"}
    with pytest.raises(ConfigError, match="max_batch_size"):
        parse_config("max_batch_size: many\n", "m")


@pytest.fixture
def moto_s3() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_a_repository_on_s3_reads_as_the_same_directory(models: Models, moto_s3: str, tmp_path: Path) -> None:
    client = boto3.client("s3", endpoint_url=moto_s3, aws_access_key_id="k", aws_secret_access_key="s",
                          region_name="us-east-1")
    client.create_bucket(Bucket="models")
    for path in models.repository.rglob("*"):
        if path.is_file():
            client.upload_file(str(path), "models", f"triton/{path.relative_to(models.repository)}")
    settings = Settings(data_dir=tmp_path, s3_endpoint_url=moto_s3, s3_access_key_id="k", s3_secret_access_key="s")
    remote = ModelRepository("s3://models/triton", settings)
    local = ModelRepository(str(models.repository), settings)

    def view(repo: ModelRepository) -> list[dict[str, object]]:
        return [m.to_json() for m in repo.models()]

    assert view(remote) == view(local)
    info = remote.model("conv")
    path = remote.local_file(info, tmp_path / "cache")
    assert path.read_bytes() == (models.repository / "conv" / "1" / "model.onnx").read_bytes()
    assert remote.local_file(info, tmp_path / "cache") == path  # downloaded once per stamp


def test_models_demo_adds_a_model_once_and_writes_rows_for_it(tmp_path: Path) -> None:
    import numpy as np
    import onnxruntime

    env = {**os.environ, "SPT_API_DATA_DIR": str(tmp_path), "SPT_API_INFERENCE_MODELS_URL": str(tmp_path / "repo")}
    command = [sys.executable, "-m", "spt_api", "models", "demo", "--folder", str(tmp_path / "try"), "--if-missing"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "added model demo version 1" in first.stdout
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "model demo is already in the repository" in again.stdout
    repository = ModelRepository(str(tmp_path / "repo"), Settings(data_dir=tmp_path))
    assert repository.versions("demo") == [1]
    info = repository.model("demo")
    assert [(t.name, t.dtype, list(t.shape)) for t in info.inputs] == [("x", "float32", [-1, 8])]
    rows = np.load(tmp_path / "try" / "demo_rows.npy")
    session = onnxruntime.InferenceSession(str(tmp_path / "repo" / "demo" / "1" / "model.onnx"))
    (scores,) = session.run(None, {"x": rows})
    assert rows.shape == (16, 8) and scores.shape == (16, 3)
