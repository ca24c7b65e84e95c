"""How a service is declared: its parameter model, its queue and its ``run``.

This module is imported by the API server, so it and every ``params.py`` must
stay light: no astropy, faiss or onnxruntime here (they load inside ``run.py``).
"""

from __future__ import annotations

import importlib
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from spt_api.uws.errors import UsageError
from spt_api.uws.models import JobResult

__all__ = [
    "ChildOutcome",
    "JobContext",
    "MergeContext",
    "ParamsModel",
    "ServiceSpec",
    "params_from_json",
    "usage_error_from_validation",
]


class JobContext(Protocol):
    """What a running job may do; given to ``run(params, ctx)``."""

    job_id: str
    #: The worker's settings (``spt_api.config.Settings``), e.g. where the maps are.
    settings: Any

    @property
    def workdir(self) -> Path:
        """A scratch directory of the job's own, made on first use and removed when the job ends."""

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Report progress (n of N); published as a job event."""

    def add_result(
        self, name: str, data: bytes | Path, mime_type: str | None = None, *, result_id: str | None = None
    ) -> str:
        """Store one result (bytes or a file) and return its result id; recorded when the job completes."""

    def is_aborted(self) -> bool:
        """True once the job has been aborted; long loops check it between steps."""


class MergeContext(JobContext, Protocol):
    """The context of a fan-out parent's ``merge``: a job context that can also reach its children's results."""

    def read_result(self, result: JobResult) -> bytes:
        """The bytes of a child's stored result."""

    def fetch_result(self, result: JobResult, destination: Path) -> None:
        """Copy a child's stored result into a local file (for large files and bundles)."""

    def adopt_result(self, result: JobResult) -> str:
        """List a child's stored result as a result of this job, without copying; return its result id."""


@dataclass(frozen=True)
class ChildOutcome:
    """What one fan-out child did: its parameters, final phase, results and error message."""

    job_id: str
    params: ParamsModel
    phase: str
    results: tuple[JobResult, ...]
    error_message: str | None = None


def _is_multi(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_multi(arg) for arg in typing.get_args(annotation) if arg is not type(None))
    return False


class ParamsModel(BaseModel):
    """Base of every service's parameter model.

    ``from_uws`` turns ordered UWS ``(name, value)`` pairs into the model: names
    are case-insensitive (DALI §3.1), list fields collect every value in order,
    and a single-valued field given twice is an error (DALI §3.2).
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)

    #: UWS/DALI control parameters accepted at job creation, handled by the job service.
    CONTROL: ClassVar[frozenset[str]] = frozenset(
        {"phase", "runid", "executionduration", "destruction", "request", "responseformat"}
    )

    @classmethod
    def field_names(cls) -> dict[str, str]:
        """Lower-cased accepted names (field names and aliases) → field name."""
        names: dict[str, str] = {}
        for name, info in cls.model_fields.items():
            names[name.lower()] = name
            if info.alias:
                names[info.alias.lower()] = name
        return names

    @classmethod
    def from_uws(cls, pairs: Iterable[tuple[str, str]]) -> Self:
        """Validate UWS parameters.

        Raises
        ------
        UsageError
            Naming the unknown, repeated or invalid parameter.
        """
        names = cls.field_names()
        values: dict[str, Any] = {}
        for raw_name, value in pairs:
            lname = raw_name.lower()
            if lname in cls.CONTROL:
                continue
            field = names.get(lname)
            if field is None:
                raise UsageError(f"unknown parameter {raw_name!r}", parameter=raw_name)
            if _is_multi(cls.model_fields[field].annotation):
                values.setdefault(field, []).append(value)
            elif field in values:
                raise UsageError(f"parameter {raw_name!r} accepts a single value", parameter=raw_name)
            else:
                values[field] = value
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise usage_error_from_validation(exc) from exc

    def to_message(self) -> dict[str, Any]:
        """The JSON form sent to workers (no pickle: survives version skew)."""
        return self.model_dump(mode="json")


def usage_error_from_validation(exc: ValidationError) -> UsageError:
    first = exc.errors()[0]
    loc = ".".join(str(part) for part in first["loc"] if not isinstance(part, int)) or "parameters"
    value = first.get("input")
    shown = f" (got {value!r})" if value is not None and not isinstance(value, dict | list) else ""
    return UsageError(f"invalid parameter {loc!r}: {first['msg']}{shown}", parameter=loc)


def params_from_json(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Turn a JSON object of parameters into ordered UWS pairs (lists become repeated values)."""
    pairs: list[tuple[str, str]] = []
    for name, value in body.items():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, bool):
                pairs.append((name, "true" if item else "false"))
            elif item is None:
                continue
            elif isinstance(item, dict | list):
                raise UsageError(f"parameter {name!r} must be a scalar or a list of scalars", parameter=name)
            else:
                pairs.append((name, str(item)))
    return pairs


RunFunction = Callable[[Any, JobContext], None]


def _load(path: str) -> Any:
    module_name, _, func_name = path.partition(":")
    return getattr(importlib.import_module(module_name), func_name)


@dataclass(frozen=True)
class ServiceSpec:
    """One job type, declared once; the API, OpenAPI, web forms and docs come from it.

    ``run`` is a ``"module:function"`` path so that the heavy module is imported
    by workers only.
    """

    name: str
    title: str
    description: str
    params_model: type[ParamsModel]
    run: str
    queue: str
    default_execution_duration: int | None = None
    #: Optional fan-out: ``"module:function"`` with ``split(params, settings) -> list[ParamsModel]``; when it
    #: returns more than one parameter set, each becomes a child job run by any worker, and when the last
    #: child ends, ``merge(params, children: list[ChildOutcome], ctx: MergeContext)`` finishes the parent.
    split: str | None = None
    merge: str | None = None

    def load_run(self) -> RunFunction:
        func: RunFunction = _load(self.run)
        return func

    def load_split(self) -> Callable[[Any, Any], list[ParamsModel]] | None:
        return _load(self.split) if self.split else None

    def load_merge(self) -> Callable[[Any, list[ChildOutcome], MergeContext], None] | None:
        return _load(self.merge) if self.merge else None

    def parameter_schema(self) -> dict[str, Any]:
        return self.params_model.model_json_schema()
