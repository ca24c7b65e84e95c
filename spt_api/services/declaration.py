"""How a service is declared: its parameter model, its placement, its settings and its code.

A declaration lives in the service's light ``params.py`` and is registered by an
entry point (group ``spt_api.services``). The API server imports it, so it must
stay light: the heavy code (astropy, faiss, onnxruntime) is named by
``"module:function"`` paths and imported by workers only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from spt_api.services.context import ChildOutcome, JobContext, MergeContext
from spt_api.services.params import ParamsModel
from spt_api.services.resources import Resource
from spt_api.services.settings import ServiceSettings

__all__ = ["HealthFunction", "RunFunction", "ServiceSpec", "SyncResult", "load_function"]

RunFunction = Callable[[Any, JobContext], None]
#: ``health(settings, service_settings) -> list[str]``: what keeps the service from working, if anything.
HealthFunction = Callable[[Any, Any], list[str]]


def load_function(path: str) -> Any:
    """The object at ``"module:function"``."""
    module_name, _, func_name = path.partition(":")
    return getattr(importlib.import_module(module_name), func_name)


@dataclass(frozen=True)
class SyncResult:
    """What a service's sync function answers in the same HTTP exchange: one file."""

    data: bytes
    mime_type: str
    filename: str


@dataclass(frozen=True)
class ServiceSpec:
    """One job type, declared once; the API, OpenAPI, web forms and docs come from it."""

    name: str
    title: str
    description: str
    params_model: type[ParamsModel]
    #: ``"module:function"`` of ``run(params, ctx)``, imported by workers only.
    run: str
    #: The queue its jobs go to, unless ``queue_for`` picks another.
    queue: str
    #: ``queue_for(params) -> queue``: placement per job (a GPU model to a GPU queue). Light code only.
    queue_for: Callable[[Any], str] | None = None
    #: Every other queue ``queue_for`` may pick, so workers and the reconciler know them all.
    other_queues: tuple[str, ...] = ()
    #: The service's settings class (``SPT_API_<NAME>_*``), given to its code as ``ctx.service_settings``.
    settings: type[ServiceSettings] | None = None
    #: The Python extra that installs its heavy dependencies (``pip install spt-api[<extra>]``).
    extra: str | None = None
    default_execution_duration: int | None = None
    #: Optional fan-out: ``"module:function"`` with ``split(params, settings) -> list[ParamsModel]``; when it
    #: returns more than one parameter set, each becomes a child job run by any worker, and when the last
    #: child ends, ``merge(params, children: list[ChildOutcome], ctx: MergeContext)`` finishes the parent.
    split: str | None = None
    merge: str | None = None
    #: Optional ``"module:function"`` with ``sync(params, settings, service_settings) -> SyncResult``: what a
    #: worker runs for a DALI sync request (``/api/<name>/sync``) instead of ``run``, so the answer is one file.
    #: Without it, a sync request runs ``run`` and answers its one result (or 303 to several).
    sync: str | None = None
    #: Optional ``"module:function"`` with ``health(settings, service_settings) -> list[str]``: the problems
    #: that keep the service from working (a missing map catalogue), ``[]`` when none. ``/health`` calls it
    #: in the API process, so it must stay light: look for a file or an object, import nothing heavy.
    health: str | None = None
    #: Optional ``"module:function"`` with ``register_cli(subparsers)``: the service's own ``spt-api`` commands
    #: (``spt-api maps`` of cutout), added to the CLI of every installation that has the service.
    cli: str | None = None
    #: Optional ``"module:function"`` with ``check_inputs(params, inputs: InputReader) -> None``: the light
    #: check of the job's input files at submission (headers only: dtype, shape), raising
    #: ``UsageError(..., parameter=name)`` for a 400. Runs in the API process, in a thread: light imports only.
    #: It may record what it learnt on the params' private attributes for ``queue_for`` and ``requirements``.
    check_inputs: str | None = None
    #: Optional ``requirements(params) -> frozenset[str]``: the worker capabilities a job needs (``gpu``,
    #: ``onnx``). A QUEUED job that no live worker server can take says so in its document. Light code only.
    requirements: Callable[[Any], frozenset[str]] | None = None
    #: Optional ``"module:function"`` returning ``list[Resource]``: the service's extra HTTP resources (plain
    #: JSON endpoints such as ``/api/indexes/{name}``), served by one core handler. Light code only.
    resources: str | None = None
    #: The last core settings object asked about and this service's settings under it.
    _settings_cache: list[Any] = field(default_factory=list, compare=False, repr=False)

    def queue_of(self, params: Any) -> str:
        """Where a job with ``params`` goes; chosen once, at creation, and stored on the job."""
        return self.queue_for(params) if self.queue_for is not None else self.queue

    @property
    def queues(self) -> tuple[str, ...]:
        return (self.queue, *(q for q in self.other_queues if q != self.queue))

    def settings_for(self, core: Any) -> ServiceSettings | None:
        """This service's settings under the core settings ``core`` (read once per core settings object)."""
        if self.settings is None:
            return None
        # Kept with the core object itself: an id() alone could be a later object's once this one is freed.
        cached = self._settings_cache
        if not cached or cached[0] is not core:
            cached[:] = [core, self.settings.for_core(core, self.name)]
        result: ServiceSettings = cached[1]
        return result

    def load_run(self) -> RunFunction:
        func: RunFunction = load_function(self.run)
        return func

    def load_split(self) -> Callable[[Any, Any], list[ParamsModel]] | None:
        return load_function(self.split) if self.split else None

    def load_merge(self) -> Callable[[Any, list[ChildOutcome], MergeContext], None] | None:
        return load_function(self.merge) if self.merge else None

    def load_sync(self) -> Callable[[Any, Any, Any], SyncResult] | None:
        return load_function(self.sync) if self.sync else None

    def load_health(self) -> HealthFunction | None:
        return load_function(self.health) if self.health else None

    def load_check_inputs(self) -> Callable[[Any, Any], None] | None:
        return load_function(self.check_inputs) if self.check_inputs else None

    def load_cli(self) -> Callable[[Any], None] | None:
        return load_function(self.cli) if self.cli else None

    def load_resources(self) -> list[Resource]:
        if not self.resources:
            return []
        found: list[Resource] = load_function(self.resources)()
        return found

    def parameter_schema(self) -> dict[str, Any]:
        return self.params_model.model_json_schema()
