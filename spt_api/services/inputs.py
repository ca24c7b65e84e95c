"""Binary inputs of a job: the ``InputFile`` parameter type and what a service's input check may read.

A field typed :data:`InputFile` holds a storage reference: an uploaded file part named like the
field is stored byte for byte under ``inputs/<job id>/<file name>`` before the job is created, and
the parameter's value becomes that key; a plain value may name an existing object instead
(``s3://bucket/key``, or a key in the configured store). The API's light check
(``ServiceSpec.check_inputs``) reads headers through an :class:`InputReader`; the worker reads the
whole file with ``ctx.input_path(ref)`` or ``ctx.open_input(ref)``.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import IO, Annotated, Any, Protocol

from pydantic import BaseModel, Field

__all__ = ["INPUTS_PREFIX", "InputFile", "InputFileMarker", "InputReader", "input_fields"]

#: Where uploaded inputs are stored: ``inputs/<job id>/<file name>``, removed with the job.
INPUTS_PREFIX = "inputs"


class InputFileMarker:
    """Marks a parameter field whose value is a stored input file (see :data:`InputFile`)."""

    def __repr__(self) -> str:
        return "InputFile"


#: A parameter whose value is a storage reference to an input file (an upload, or an existing object).
InputFile = Annotated[
    str,
    InputFileMarker(),
    Field(
        min_length=1,
        max_length=1024,
        json_schema_extra={"format": "binary", "x-spt-input-file": True},
    ),
]


def _is_input(annotation: Any, metadata: Sequence[Any]) -> bool:
    if any(isinstance(m, InputFileMarker) for m in metadata):
        return True
    for arg in typing.get_args(annotation):
        if any(isinstance(m, InputFileMarker) for m in getattr(arg, "__metadata__", ())):
            return True
        if typing.get_args(arg) and _is_input(arg, ()):
            return True
    return False


@functools.cache
def input_fields(model: type[BaseModel]) -> Mapping[str, str]:
    """The model's :data:`InputFile` fields: every accepted lower-cased name (field and alias) → field name.

    Remembered per model (a class does not change): every submission asks, three times."""
    names: dict[str, str] = {}
    for name, info in model.model_fields.items():
        if _is_input(info.annotation, info.metadata):
            names[name.lower()] = name
            if info.alias:
                names[info.alias.lower()] = name
    return MappingProxyType(names)


class InputReader(Protocol):
    """What ``check_inputs(params, inputs)`` may read of a job's input files, in the API process.

    Each method takes the parameter's value (a storage reference). Reads are blocking; the check runs
    in a thread.
    """

    #: The core settings and the service's own settings (``SPT_API_<SERVICE>_*``).
    settings: Any
    service_settings: Any

    def head(self, ref: str, n: int) -> bytes:
        """The first ``n`` bytes (fewer when the file is shorter)."""

    def size(self, ref: str) -> int:
        """The file's size in bytes."""

    def open(self, ref: str) -> IO[bytes]:
        """A seekable binary file object reading the file (ranged reads on S3); close it after use."""

    def workers(self) -> list[Any]:
        """The live worker servers (:class:`spt_api.uws.workers.WorkerInfo`), newest beat first."""
