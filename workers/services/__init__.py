"""The registry of services: every ``workers/services/<name>/params.py`` that declares ``SERVICE``."""

from __future__ import annotations

import importlib

from workers.services.base import ServiceSpec

__all__ = ["SERVICE_MODULES", "get_service", "services"]

#: Service packages, in the order they are listed by ``GET /api/services``.
SERVICE_MODULES: tuple[str, ...] = ("cutout", "echo")


def services() -> dict[str, ServiceSpec]:
    registry: dict[str, ServiceSpec] = {}
    for name in SERVICE_MODULES:
        spec: ServiceSpec = importlib.import_module(f"workers.services.{name}.params").SERVICE
        registry[spec.name] = spec
    return registry


def get_service(name: str) -> ServiceSpec | None:
    return services().get(name)
