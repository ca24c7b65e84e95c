"""The live worker registry: workers register their queues and capabilities, beat, and leave."""

from __future__ import annotations

from pathlib import Path

import pytest

from spt_api.db import create_job_store
from spt_api.testing import start_server_thread
from spt_api.uws.errors import PermissionDeniedError
from spt_api.uws.principal import ANONYMOUS, Principal
from spt_api.uws.workers import WorkerInfo, missing_capabilities
from tests.conftest import embedded_settings
from tests.support._proc import wait_until
from workers.capabilities import capabilities_of, detect_capabilities
from workers.presence import WorkerPresence

SYSTEM = Principal.system_actor("test")


def test_register_beat_and_leave(tmp_path: Path) -> None:
    store = create_job_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    presence = WorkerPresence(store, "w1", ["inference-cpu"], ["cpu", "onnx"], interval=3600).start()
    (live,) = store.live_workers(SYSTEM, 60)
    assert (live.worker_id, live.queues, live.capabilities) == ("w1", ("inference-cpu",), frozenset({"cpu", "onnx"}))
    first_seen = live.last_seen
    assert store.beat_worker(SYSTEM, "w1", {"shard": "faces:2", "index_version": 3})
    (live,) = store.live_workers(SYSTEM, 60)
    assert live.extra == {"shard": "faces:2", "index_version": 3}
    assert live.last_seen is not None and first_seen is not None and live.last_seen >= first_seen
    assert store.live_workers(SYSTEM, -1) == []  # older than max_age: not live
    with pytest.raises(PermissionDeniedError):
        store.live_workers(ANONYMOUS, 60)
    # Forgotten (a restarted database): the next beat registers again.
    store.remove_worker(SYSTEM, "w1")
    presence.beat()
    assert [w.worker_id for w in store.live_workers(SYSTEM, 60)] == ["w1"]
    presence.stop()
    assert store.live_workers(SYSTEM, 60) == []


def test_capabilities_are_configured_or_detected() -> None:
    settings = embedded_settings(Path("/nonexistent"), worker_capabilities="GPU, onnx ,cuda")
    assert capabilities_of(settings) == {"gpu", "onnx", "cuda"}
    detected = detect_capabilities()
    assert {"cpu", "onnx"} <= detected  # onnxruntime is installed with the test extra
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        assert not {"gpu", "cuda"} & detected  # no GPU claimed without the CUDA provider


def test_missing_capabilities_names_what_no_server_has() -> None:
    cpu = WorkerInfo("a", "h", ("inference-cpu",), frozenset({"cpu", "onnx"}))
    assert missing_capabilities({"onnx", "cpu"}, [cpu], "inference-cpu") == set()
    assert missing_capabilities({"onnx", "gpu"}, [cpu], "inference-gpu") == {"gpu"}
    assert missing_capabilities({"onnx", "gpu"}, [], "inference-gpu") == {"onnx", "gpu"}
    assert missing_capabilities({"onnx", "gpu"}, [cpu]) == {"gpu"}


def test_the_embedded_pool_registers_with_every_queue(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path / "data", worker_capabilities="cpu,onnx,fp16")
    server = start_server_thread(settings)
    try:
        store = server.backends.jobs.store
        wait_until(lambda: store.live_workers(SYSTEM, 30), timeout=60, what="the embedded pool's registration")
        (live,) = store.live_workers(SYSTEM, 30)
        assert live.worker_id.endswith(":embedded")
        assert {"echo", "cutout"} <= set(live.queues)
        assert live.capabilities == {"cpu", "onnx", "fp16"}
    finally:
        server.stop()
    assert store.live_workers(SYSTEM, 30) == []
