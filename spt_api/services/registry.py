"""The services this installation runs, found through the ``spt_api.services`` entry-point group.

As pytest, Celery and Datasette find their plugins: a package declares
``[options.entry_points] spt_api.services = name = package.module:SERVICE``.
The registry is built once by the process's composition code and passed to
everything that needs it; there is no global lookup.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from importlib.metadata import entry_points

from spt_api.services.declaration import ServiceSpec

__all__ = ["ENTRY_POINT_GROUP", "ServiceRegistry", "UnknownServiceError"]

ENTRY_POINT_GROUP = "spt_api.services"


class UnknownServiceError(ValueError):
    """``SPT_API_SERVICES`` names a service no installed package declares."""


class ServiceRegistry(Mapping[str, ServiceSpec]):
    """Services by name, in name order (how ``GET /api/services`` lists them)."""

    def __init__(self, specs: Iterable[ServiceSpec]) -> None:
        by_name: dict[str, ServiceSpec] = {}
        for spec in specs:
            if spec.name in by_name:
                raise ValueError(f"two declarations of the service {spec.name!r}")
            by_name[spec.name] = spec
        self._specs = dict(sorted(by_name.items()))

    @classmethod
    def from_entry_points(cls, enabled: Iterable[str] = ()) -> ServiceRegistry:
        """Every installed service, or only those named in ``enabled`` (empty: all).

        Raises
        ------
        UnknownServiceError
            When ``enabled`` names a service that is not installed.
        """
        wanted = [name.strip() for name in enabled if name.strip()]
        found: dict[str, ServiceSpec] = {}
        for point in entry_points(group=ENTRY_POINT_GROUP):
            if wanted and point.name not in wanted:
                continue
            spec = point.load()
            if not isinstance(spec, ServiceSpec):
                raise TypeError(f"entry point {point.name} = {point.value} is not a ServiceSpec")
            found[spec.name] = spec
        missing = [name for name in wanted if name not in found]
        if missing:
            raise UnknownServiceError(
                f"SPT_API_SERVICES names {', '.join(missing)}, but no installed package declares "
                f"{'it' if len(missing) == 1 else 'them'} (installed: {', '.join(sorted(_installed())) or 'none'})"
            )
        return cls(found.values())

    def __getitem__(self, name: str) -> ServiceSpec:
        return self._specs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def queues(self) -> list[str]:
        """Every queue some service's jobs may go to, sorted."""
        return sorted({queue for spec in self._specs.values() for queue in spec.queues})


def _installed() -> list[str]:
    return [point.name for point in entry_points(group=ENTRY_POINT_GROUP)]
