"""The registry of services: every ``workers/services/<name>/params.py`` that declares ``SERVICE``."""

from __future__ import annotations

import importlib
from functools import cache

from workers.services.base import ServiceSpec

__all__ = ["SERVICE_MODULES", "get_service", "services"]

#: Service packages, in the order they are listed by ``GET /api/services``.
SERVICE_MODULES: tuple[str, ...] = ("cutout", "echo")


@cache
def _registry() -> dict[str, ServiceSpec]:
    registry: dict[str, ServiceSpec] = {}
    for name in SERVICE_MODULES:
        spec: ServiceSpec = importlib.import_module(f"workers.services.{name}.params").SERVICE
        registry[spec.name] = spec
    return registry


def services() -> dict[str, ServiceSpec]:
    """Every declared service by name (a fresh dict: callers may not change the registry)."""
    return dict(_registry())


def get_service(name: str) -> ServiceSpec | None:
    # On every job's path: no module lookups, no copy.
    return _registry().get(name)
