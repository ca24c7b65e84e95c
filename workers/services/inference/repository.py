"""The model repository, in Triton's layout, in a directory or under an S3 prefix.

``<name>/<version>/model.onnx`` with an optional ``<name>/config.pbtxt``. Without a config the
signature is read from the ONNX graph (Triton's auto-complete). A repository copied from a Triton
server loads unchanged where its models are ONNX; other backends are listed as unsupported.
Light: the API process reads it (no onnxruntime, no numpy); each call lists afresh, so a new
version is seen at once, and signatures are cached by the model file's stamp (mtime or ETag).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from spt_api.services import UsageError
from spt_api.storage.base import ObjectStore
from spt_api.storage.factory import s3_object_store
from workers.services.inference.model_config import ONNX_BACKENDS, ConfigError, TritonConfig, parse_config
from workers.services.inference.onnx_signature import OnnxFormatError, TensorSpec, onnx_signature

__all__ = ["ModelInfo", "ModelRepository", "queue_for_requirements"]

#: A model file's name → Triton's backend for it (the default file names of Triton's backends).
BACKEND_FILES = {
    "model.onnx": "onnxruntime",
    "model.pt": "pytorch",
    "model.plan": "tensorrt",
    "model.savedmodel": "tensorflow",
    "model.graphdef": "tensorflow",
    "model.py": "python",
    "model.xml": "openvino",
}
DEFAULT_BATCH_SIZE = 256
CPU_QUEUE = "inference-cpu"
GPU_QUEUE = "inference-gpu"

_signatures: dict[tuple[str, str, str], tuple[list[TensorSpec], list[TensorSpec]]] = {}
_signatures_lock = threading.Lock()


def queue_for_requirements(requirements: frozenset[str]) -> str:
    """The chart's worker queue of servers that can run a model with these requirements."""
    return GPU_QUEUE if "gpu" in requirements else CPU_QUEUE


@dataclass(frozen=True)
class ModelInfo:
    """One version of one model, as placed and run."""

    name: str
    version: int
    versions: tuple[int, ...]
    backend: str
    #: Why it cannot be served here (another backend, a bad config), or None.
    problem: str | None = None
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    max_batch_size: int = 0
    #: Whether the first axis of every input and output is the batch (rows are independent).
    batched: bool = False
    requirements: frozenset[str] = field(default_factory=frozenset)
    key: str = ""
    stamp: str = ""
    size: int = 0

    @property
    def default_batch_size(self) -> int:
        return self.max_batch_size or DEFAULT_BATCH_SIZE

    @property
    def queue(self) -> str:
        return queue_for_requirements(self.requirements)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "versions": list(self.versions),
            "backend": self.backend,
            "supported": self.problem is None,
            "problem": self.problem,
            "inputs": [t.to_json() for t in self.inputs],
            "outputs": [t.to_json() for t in self.outputs],
            "maxBatchSize": self.max_batch_size,
            "requirements": sorted(self.requirements),
            "queue": self.queue,
        }


class ModelRepository:
    """A Triton-layout model repository at ``url`` (a directory or ``s3://bucket/prefix``)."""

    def __init__(self, url: str, settings: Any) -> None:
        self.url = url
        parsed = urlparse(url)
        self.store: ObjectStore
        if parsed.scheme == "s3":
            self.store = s3_object_store(settings, parsed.netloc, parsed.path)
            self.root: Path | None = None
        else:
            from spt_api.storage.local import LocalObjectStore

            self.root = Path(parsed.path if parsed.scheme == "file" else url)
            self.store = LocalObjectStore(self.root)

    # -- listing -------------------------------------------------------------------------------------

    def _list(self, prefix: str) -> tuple[list[str], list[str]]:
        """The sub-folders and files directly under ``prefix`` ('' is the root)."""
        if self.root is not None:
            folder = self.root / prefix
            if not folder.is_dir():
                return [], []
            entries = sorted(folder.iterdir())
            return [p.name for p in entries if p.is_dir()], [p.name for p in entries if p.is_file()]
        store: Any = self.store
        base = f"{store.prefix}/{prefix}" if store.prefix else prefix
        if base and not base.endswith("/"):
            base += "/"
        dirs: list[str] = []
        files: list[str] = []
        for page in store.client.get_paginator("list_objects_v2").paginate(
            Bucket=store.bucket, Prefix=base, Delimiter="/"
        ):
            dirs += [p["Prefix"][len(base) :].rstrip("/") for p in page.get("CommonPrefixes", [])]
            files += [o["Key"][len(base) :] for o in page.get("Contents", [])]
        return sorted(dirs), sorted(files)

    def names(self) -> list[str]:
        return [name for name in self._list("")[0] if not name.startswith(".")]

    def versions(self, name: str) -> list[int]:
        return sorted(int(d) for d in self._list(name)[0] if d.isdigit())

    def config_text(self, name: str) -> str | None:
        key = f"{name}/config.pbtxt"
        try:
            return b"".join(self.store.read_chunks(key)).decode("utf-8")
        except FileNotFoundError:
            return None
        except Exception as exc:
            if self.root is None and "NoSuchKey" in type(exc).__name__ + str(exc):
                return None
            raise

    def stamp(self, key: str) -> tuple[str, int]:
        """What changes when the file at ``key`` is replaced (mtime or ETag), and its size."""
        if self.root is not None:
            stat = (self.root / key).stat()
            return f"{stat.st_mtime_ns}-{stat.st_size}", stat.st_size
        store: Any = self.store
        head = store._head(key)
        return str(head.get("ETag", "")).strip('"'), int(head["ContentLength"])

    # -- one model -----------------------------------------------------------------------------------

    def model(self, name: str, version: int | None = None) -> ModelInfo:
        """The model ``name`` at ``version`` (default: the highest).

        Raises
        ------
        UsageError
            No such model (parameter ``model``) or version (parameter ``version``).
        """
        if not name or "/" in name or name.startswith("."):
            raise UsageError(f"no model {name!r}; see /api/models", parameter="model")
        versions = self.versions(name)
        if not versions:
            raise UsageError(f"no model {name!r} in the model repository; see /api/models", parameter="model")
        if version is None:
            version = versions[-1]
        elif version not in versions:
            raise UsageError(
                f"model {name!r} has no version {version} (it has {', '.join(map(str, versions))})",
                parameter="version",
            )
        return self._describe(name, version, tuple(versions))

    def _describe(self, name: str, version: int, versions: tuple[int, ...]) -> ModelInfo:
        config: TritonConfig | None = None
        text = self.config_text(name)
        if text is not None:
            try:
                config = parse_config(text, name)
            except ConfigError as exc:
                return ModelInfo(name, version, versions, "unknown", problem=str(exc))
        files = self._list(f"{name}/{version}")
        present = set(files[0]) | set(files[1])
        filename = (config.default_model_filename if config else "") or "model.onnx"
        backend = config.backend if config and config.backend else ""
        if not backend:
            backend = next((b for f, b in BACKEND_FILES.items() if f in present), "unknown")
        if backend not in ONNX_BACKENDS:
            return ModelInfo(
                name, version, versions, backend,
                problem=f"backend {backend!r} is not supported here (ONNX models only)",
            )
        if filename not in present:
            return ModelInfo(name, version, versions, backend, problem=f"no {filename} in version {version}")
        key = f"{name}/{version}/{filename}"
        stamp, size = self.stamp(key)
        try:
            inputs, outputs = self._signature(key, stamp)
        except OnnxFormatError as exc:
            return ModelInfo(name, version, versions, backend, problem=f"{filename}: {exc}")
        batched = False
        max_batch = 0
        if config is not None:
            max_batch = config.max_batch_size
            batched = max_batch > 0
            if config.inputs:
                inputs = list(config.inputs)
            if config.outputs:
                outputs = list(config.outputs)
        if not batched:
            # Triton's auto-complete: a first dimension of any size on every input and output is a batch.
            batched = all(t.shape and t.shape[0] == -1 for t in [*inputs, *outputs])
        device = config.device if config else "cpu"
        extra = config.extra_requirements if config else frozenset()
        return ModelInfo(
            name=name,
            version=version,
            versions=versions,
            backend=backend,
            inputs=tuple(inputs),
            outputs=tuple(outputs),
            max_batch_size=max_batch,
            batched=batched,
            requirements=frozenset({"onnx", device, *extra}),
            key=key,
            stamp=stamp,
            size=size,
        )

    def _signature(self, key: str, stamp: str) -> tuple[list[TensorSpec], list[TensorSpec]]:
        cache_key = (self.url, key, stamp)
        with _signatures_lock:
            found = _signatures.get(cache_key)
        if found is None:
            with self.store.open_read(key) as handle:
                found = onnx_signature(handle)
            with _signatures_lock:
                _signatures[cache_key] = found
        return found

    def models(self) -> list[ModelInfo]:
        """The highest version of every model (unsupported ones too, with their problem)."""
        found = []
        for name in self.names():
            versions = self.versions(name)
            if versions:
                found.append(self._describe(name, versions[-1], tuple(versions)))
        return found

    # -- worker side ---------------------------------------------------------------------------------

    def local_file(self, info: ModelInfo, cache_dir: Path) -> Path:
        """The model file on this machine: in place for a directory, downloaded once (per stamp) from S3."""
        local = self.store.local_path(info.key)
        if local is not None:
            return local
        target = cache_dir / info.name / str(info.version) / info.stamp / info.key.rsplit("/", 1)[-1]
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            part = target.with_name(target.name + ".part")
            with part.open("wb") as handle:
                for chunk in self.store.read_chunks(info.key, 8 << 20):
                    handle.write(chunk)
            part.replace(target)
        return target
