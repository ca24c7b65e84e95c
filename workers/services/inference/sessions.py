"""onnxruntime sessions, created once per worker process and kept in an LRU cache bounded in MB.

A session is keyed by the model file's stamp (mtime or ETag) and its execution providers: a new
version, or a file replaced in place, makes a new session without restarting the worker; the least
recently used ones are dropped when the model files of those kept exceed the bound.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import cache
from pathlib import Path
from typing import Any

from spt_api.services import FatalJobError
from workers.services.inference.repository import ModelInfo

__all__ = ["SessionCache", "providers_for", "worker_capabilities"]

CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"


@cache
def worker_capabilities(configured: str) -> frozenset[str]:
    from workers.capabilities import capabilities_of_text

    return capabilities_of_text(configured)


def providers_for(info: ModelInfo, capabilities: frozenset[str]) -> list[str]:
    """The execution providers a model runs on here; a GPU model never falls back to the CPU.

    Raises
    ------
    FatalJobError
        Naming the missing provider (or capability) when this worker cannot run the model as configured.
    """
    import onnxruntime

    available = onnxruntime.get_available_providers()
    missing = sorted(info.requirements - capabilities - {"cpu"})
    if "gpu" in info.requirements:
        if CUDA_PROVIDER not in available:
            raise FatalJobError(
                f"model {info.name!r} needs a GPU (instance_group KIND_GPU), but this worker's onnxruntime has "
                f"no {CUDA_PROVIDER} (it has {', '.join(available)}); it does not fall back to the CPU"
            )
        missing = [m for m in missing if m not in ("gpu", "cuda")]
    if missing:
        raise FatalJobError(
            f"model {info.name!r} requires {', '.join(missing)}, which this worker does not offer "
            f"(its capabilities: {', '.join(sorted(capabilities))})"
        )
    return [CUDA_PROVIDER] if "gpu" in info.requirements else [CPU_PROVIDER]


class SessionCache:
    """Sessions by (model, version, stamp, providers), least recently used dropped past ``limit_mb``."""

    def __init__(self) -> None:
        self._sessions: OrderedDict[tuple[str, int, str, tuple[str, ...]], tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.created = 0

    def get(self, info: ModelInfo, path: Path, providers: list[str], limit_mb: int) -> Any:
        key = (info.name, info.version, info.stamp, tuple(providers))
        with self._lock:
            found = self._sessions.get(key)
            if found is not None:
                self._sessions.move_to_end(key)
                return found[0]
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=providers)
        with self._lock:
            self.created += 1
            self._sessions[key] = (session, info.size)
            self._sessions.move_to_end(key)
            # Older versions of the same model first, then by age: keep the total under the bound
            # (the newest session stays even when it alone is larger).
            limit = limit_mb * 1024 * 1024
            while len(self._sessions) > 1 and sum(size for _, size in self._sessions.values()) > limit:
                self._sessions.popitem(last=False)
        return session

    def loaded(self) -> list[tuple[str, int, str, tuple[str, ...]]]:
        with self._lock:
            return list(self._sessions)


#: The worker process's sessions.
SESSIONS = SessionCache()
