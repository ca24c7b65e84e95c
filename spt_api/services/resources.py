"""Extra HTTP resources of a service: plain JSON endpoints beside its UWS jobs (``/api/indexes/{name}``).

A service declares ``resources="module:function"``; the function returns a list of
:class:`Resource`. One generic core handler serves them all: it parses the request, runs the
callable in a thread with a :class:`ResourceRequest`, and answers its value as JSON. A
:class:`~spt_api.services.UsageError` is a 400 and a :class:`NotFoundError` a 404, rendered as
every other error document (JSON or DALI text, by ``Accept``). The module must stay light: the
API process imports it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from spt_api.uws.errors import NotFoundError
from spt_api.uws.principal import Principal

__all__ = ["NotFoundError", "Resource", "ResourceFunction", "ResourceRequest"]

#: ``{name}`` in a resource path: one path segment.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _no_workers() -> list[Any]:
    return []


@dataclass(frozen=True)
class ResourceRequest:
    """What a resource callable is given: who asks, the path's and the request's parameters, the backends."""

    principal: Principal
    #: The ``{placeholders}`` of the resource's path, by name.
    path_args: dict[str, str]
    #: Query and body parameters in order (form, multipart or a JSON object), as for a job.
    params: list[tuple[str, str]]
    #: The core settings (``spt_api.config.Settings``).
    settings: Any
    #: The service's own settings, or None.
    service_settings: Any
    #: The object store (``spt_api.storage.ObjectStore``).
    storage: Any
    #: Files uploaded for the ``Resource.uploads`` parameters: name → storage key. The objects live for
    #: the call only: a callable that keeps the data copies it.
    inputs: dict[str, str] = field(default_factory=dict)
    #: The live workers (``JobStore.live_workers``) once the worker registry exists; ``[]`` until then.
    workers: Callable[[], list[Any]] = _no_workers

    def param(self, name: str) -> str | None:
        """The first value of parameter ``name`` (case-insensitive), or None."""
        lname = name.lower()
        return next((v for k, v in self.params if k.lower() == lname), None)

    def param_values(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for k, v in self.params if k.lower() == lname]


ResourceFunction = Callable[[ResourceRequest], Any]


@dataclass(frozen=True)
class Resource:
    """One path and what its methods do; each callable returns a JSON-able value (answered 200)."""

    #: As under the default base: ``/api/indexes/{name}`` (the core moves it under ``SPT_API_BASE_PATH``).
    path: str
    get: ResourceFunction | None = None
    post: ResourceFunction | None = None
    delete: ResourceFunction | None = None
    #: One line for OpenAPI.
    summary: str = ""
    #: Parameters that may come as multipart file parts: each is stored byte for byte for the call and
    #: named in ``ResourceRequest.inputs`` (a storage key the callable reads and copies if it keeps it).
    uploads: tuple[str, ...] = ()

    @property
    def methods(self) -> dict[str, ResourceFunction]:
        found = {"get": self.get, "post": self.post, "delete": self.delete}
        return {name: func for name, func in found.items() if func is not None}

    @property
    def path_names(self) -> list[str]:
        return _PLACEHOLDER.findall(self.path)

    def relative_path(self) -> str:
        """The path below the API base: ``/indexes/{name}``."""
        return self.path[len("/api") :] if self.path.startswith("/api/") else self.path

    def route_pattern(self) -> str:
        """The Tornado pattern of :meth:`relative_path`: each placeholder one non-empty path segment."""
        parts = _PLACEHOLDER.split(self.relative_path())
        pattern = ""
        for index, part in enumerate(parts):
            pattern += f"(?P<{part}>[^/]+)" if index % 2 else re.escape(part)
        return pattern + "/?"
