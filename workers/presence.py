"""A worker process in the live worker registry: its capabilities, its registration and its beat.

Capabilities come from ``SPT_API_WORKER_CAPABILITIES`` (``cpu,onnx`` or ``gpu,onnx,cuda``), else they
are detected: ``cpu`` always; ``onnx`` when onnxruntime imports; ``gpu`` and ``cuda`` only when
onnxruntime's CUDA execution provider is present *and* a GPU is visible. Jobs are placed by them
(a model's requirements must be a subset), and ``GET /api/models`` shows which servers can serve what.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterable
from typing import Any

from spt_api.config import Settings
from spt_api.uws.models import utcnow
from spt_api.uws.principal import Principal
from spt_api.uws.workers import WorkerInfo

__all__ = ["PRESENCE", "WorkerPresence", "capabilities_of", "detect_capabilities", "gpu_visible"]

log = logging.getLogger(__name__)

#: Who registers and beats: the system.
PRESENCE = Principal.system_actor("worker-registry")
#: Seconds nvidia-smi may take to list the GPUs before none is assumed.
NVIDIA_SMI_TIMEOUT = 10


def gpu_visible() -> bool:
    """Whether this process can see an NVIDIA GPU (a device node, or nvidia-smi listing one)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1", "none", "NoDevFiles"):
        return False
    if glob.glob("/dev/nvidia[0-9]*"):
        return True
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, timeout=NVIDIA_SMI_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return listed.returncode == 0 and b"GPU" in listed.stdout


def detect_capabilities() -> frozenset[str]:
    """What this process can run, found by importing onnxruntime (only where a worker runs)."""
    found = {"cpu"}
    try:
        import onnxruntime
    except Exception:  # not installed, or broken: this worker serves no ONNX model
        return frozenset(found)
    found.add("onnx")
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers() and gpu_visible():
        found |= {"gpu", "cuda"}
    return frozenset(found)


def capabilities_of(settings: Settings) -> frozenset[str]:
    """``SPT_API_WORKER_CAPABILITIES`` when set, else :func:`detect_capabilities`."""
    configured = {c.strip().lower() for c in settings.worker_capabilities.split(",") if c.strip()}
    return frozenset(configured) if configured else detect_capabilities()


class WorkerPresence:
    """Registers one worker in the registry and beats every ``interval`` seconds until :meth:`stop`."""

    def __init__(
        self,
        store: Any,
        worker_id: str,
        queues: Iterable[str],
        capabilities: Iterable[str],
        interval: float,
        extra: Callable[[], dict[str, Any] | None] | None = None,
    ) -> None:
        self.store = store
        self.info = WorkerInfo(
            worker_id=worker_id,
            hostname=socket.gethostname(),
            queues=tuple(queues),
            capabilities=frozenset(capabilities),
            started=utcnow(),
        )
        self.interval = interval
        self._extra = extra
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> WorkerPresence:
        self._register()
        self._thread = threading.Thread(target=self._run, name="worker-presence", daemon=True)
        self._thread.start()
        return self

    def _register(self) -> None:
        try:
            self.store.register_worker(PRESENCE, self.info)
            log.info(
                "worker registered: queues %s, capabilities %s",
                ",".join(self.info.queues), ",".join(sorted(self.info.capabilities)),
            )
        except Exception as exc:  # the database may be down at start; the next beat registers
            log.warning("worker not registered (will retry): %s", exc)

    def beat(self) -> None:
        try:
            extra = self._extra() if self._extra is not None else None
            if not self.store.beat_worker(PRESENCE, self.info.worker_id, extra):
                self._register()  # forgotten meanwhile, or never registered: register again
        except Exception as exc:  # a database blip must not stop the worker
            log.warning("worker heartbeat failed: %s", exc)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.store.remove_worker(PRESENCE, self.info.worker_id)
        except Exception as exc:
            log.warning("worker not removed from the registry: %s", exc)
