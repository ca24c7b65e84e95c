"""A target: one box on the sky to cut, and the checks of the numbers that make one.

Every way of giving positions (SODA shapes, ra/dec, an uploaded table) ends
as a :class:`Target`. Standard library only: the API builds targets to
validate a submission.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from spt_api.services.errors import UsageError

__all__ = [
    "DEFAULT_SIZE_ARCMIN",
    "MAX_POSITIONS",
    "MAX_RADIUS_DEG",
    "MAX_SIZE_ARCMIN",
    "Target",
    "chunk_targets",
    "circle_target",
    "unique_names",
]

#: Largest CIRCLE radius and half-width of any box (degrees). A 4-degree stamp
#: at SPT-3G's 0.25' pixels is ~1000 px square (4 MB of float32): big enough for
#: clusters and nearby galaxies, small enough that one job cannot ask for a map.
MAX_RADIUS_DEG = 2.0
#: Full width used when ``size`` is not given (arcmin): a few beams around a source.
DEFAULT_SIZE_ARCMIN = 5.0
MAX_SIZE_ARCMIN = 2 * MAX_RADIUS_DEG * 60
#: Most positions in one job (all sources together); larger lists should be split
#: by the client. 50k rows of CSV are ~2 MB, well inside the request body limit.
MAX_POSITIONS = 50_000

ShapeKind = Literal["circle", "range", "polygon"]


@dataclass(frozen=True, slots=True)
class Target:
    """One position to cut: a box of ``width`` x ``height`` degrees centred on ``ra, dec``.

    ``pos`` is the canonical SODA form (``CIRCLE ...``, ``RANGE ...``, ``POLYGON ...``)
    from which the target can be rebuilt exactly (floats are written with ``repr``).
    """

    name: str
    ra: float
    dec: float
    shape: ShapeKind
    width: float
    height: float
    pos: str

    @property
    def radius(self) -> float:
        """Half of the larger side (degrees): the search radius in the map catalogue."""
        return max(self.width, self.height) / 2


def usage(label: str, value: str, why: str) -> UsageError:
    """A UsageError naming the parameter and value; ``label`` may add where ("positions row 3")."""
    shown = value if len(value) <= 80 else value[:77] + "..."
    return UsageError(f"invalid parameter {label} {shown!r}: {why}", parameter=label.split()[0])


def to_float(parameter: str, value: str, text: str, what: str) -> float:
    """``text`` as a finite float, or a UsageError naming ``parameter`` and ``value``."""
    try:
        number = float(text)
    except ValueError:
        raise usage(parameter, value, f"{what} {text!r} is not a number") from None
    if not math.isfinite(number):
        # SODA allows open RANGE bounds (+Inf/-Inf); an unbounded box cannot be
        # cut from a map, so it is refused here rather than clipped silently.
        raise usage(parameter, value, f"{what} must be finite")
    return number


def check_ra(parameter: str, value: str, ra: float) -> float:
    if not 0.0 <= ra <= 360.0:
        raise usage(parameter, value, f"ra {ra:g} is outside [0, 360]")
    return ra % 360.0


def check_dec(parameter: str, value: str, dec: float) -> float:
    if not -90.0 <= dec <= 90.0:
        raise usage(parameter, value, f"dec {dec:g} is outside [-90, 90]")
    return dec


def check_extent(parameter: str, value: str, width: float, height: float) -> None:
    limit = 2 * MAX_RADIUS_DEG
    if width > limit or height > limit:
        raise usage(parameter, value, f"the box is larger than {limit:g} degrees on a side")
    if width <= 0 or height <= 0:
        raise usage(parameter, value, "the box is empty")


def circle_target(name: str, ra: float, dec: float, radius: float) -> Target:
    pos = f"CIRCLE {ra!r} {dec!r} {radius!r}"
    return Target(name, ra, dec, "circle", 2 * radius, 2 * radius, pos)


def unique_names(targets: list[Target]) -> list[Target]:
    """Give every target a distinct name: names become file names in the results."""
    seen: dict[str, int] = {}
    result: list[Target] = []
    for target in targets:
        count = seen.get(target.name, 0) + 1
        seen[target.name] = count
        if count > 1:
            name = f"{target.name}-{count}"
            while name in seen:
                count += 1
                name = f"{target.name}-{count}"
            seen[name] = 1
            target = Target(name, target.ra, target.dec, target.shape, target.width, target.height, target.pos)
        result.append(target)
    return result


def chunk_targets(targets: Sequence[Target], size: int) -> list[list[Target]]:
    """Split targets into consecutive chunks of at most ``size`` (the fan-out unit)."""
    if size < 1:
        raise ValueError("chunk size must be >= 1")
    return [list(targets[i : i + size]) for i in range(0, len(targets), size)]
