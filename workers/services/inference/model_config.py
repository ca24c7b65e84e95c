"""A model's ``config.pbtxt`` in Triton's own text format, parsed with Triton's model-config proto.

The proto is the one the ``tritonclient`` package ships (``tritonclient/grpc/model_config_pb2.py``);
it is loaded from its file so that the gRPC client (and grpcio) need not be installed or imported.
Parsing uses protobuf's ``text_format``: what Triton accepts, we accept, field for field.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType

from workers.services.inference.dtypes import TRITON_TYPES
from workers.services.inference.onnx_signature import TensorSpec

__all__ = ["ConfigError", "TritonConfig", "model_config_pb2", "parse_config"]

#: Backends and platforms that run ONNX models with onnxruntime, as Triton names them.
ONNX_BACKENDS = frozenset({"onnxruntime", "onnxruntime_onnx"})


class ConfigError(ValueError):
    """A ``config.pbtxt`` that Triton's model-config proto does not accept."""


@cache
def model_config_pb2() -> ModuleType:
    """Triton's generated ``model_config_pb2`` module, from the tritonclient package's files."""
    spec = importlib.util.find_spec("tritonclient")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the tritonclient package (Triton's model-config proto) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "grpc" / "model_config_pb2.py"
    name = "spt_triton_model_config_pb2"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ConfigError(f"cannot load Triton's model-config proto from {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class TritonConfig:
    """What we use of a model configuration (``inference.ModelConfig``)."""

    name: str
    backend: str
    max_batch_size: int
    #: Full shapes as the model sees them: ``(-1, *dims)`` when ``max_batch_size > 0``, else ``dims``.
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    #: ``gpu`` or ``cpu`` (from ``instance_group.kind``; KIND_AUTO or none: ``cpu``).
    device: str
    #: Extra capabilities from ``parameters { key: "requirements" value { string_value: "a,b" } }``.
    extra_requirements: frozenset[str] = field(default_factory=frozenset)
    default_model_filename: str = ""

    @property
    def is_onnx(self) -> bool:
        return self.backend in ONNX_BACKENDS


def _tensors(items: object, batched: bool) -> tuple[TensorSpec, ...]:
    specs = []
    pb2 = model_config_pb2()
    for item in items:  # type: ignore[attr-defined]
        type_name = pb2.DataType.Name(item.data_type)
        dims = tuple(int(d) for d in item.dims)
        specs.append(TensorSpec(item.name, TRITON_TYPES.get(type_name, type_name), (-1, *dims) if batched else dims))
    return tuple(specs)


def parse_config(text: str, name: str) -> TritonConfig:
    """The configuration in ``text`` (``config.pbtxt``) of the model ``name``.

    Raises
    ------
    ConfigError
        When protobuf's text format refuses it (an unknown field, a wrong type), saying where.
    """
    from google.protobuf import text_format

    pb2 = model_config_pb2()
    message = pb2.ModelConfig()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as exc:
        raise ConfigError(f"config.pbtxt of model {name!r}: {exc}") from None
    batched = message.max_batch_size > 0
    kinds = {pb2.ModelInstanceGroup.Kind.Name(group.kind) for group in message.instance_group}
    device = "gpu" if "KIND_GPU" in kinds else "cpu"
    extra: set[str] = set()
    if "requirements" in message.parameters:
        extra = {r.strip().lower() for r in message.parameters["requirements"].string_value.split(",") if r.strip()}
    backend = message.backend or message.platform or ""
    return TritonConfig(
        name=message.name or name,
        backend=backend,
        max_batch_size=int(message.max_batch_size),
        inputs=_tensors(message.input, batched),
        outputs=_tensors(message.output, batched),
        device=device,
        extra_requirements=frozenset(extra),
        default_model_filename=message.default_model_filename,
    )
