"""SODA shapes: ``CIRCLE``, ``RANGE`` and ``POLYGON`` values of ``POS`` parsed into targets.

Standard library only (the API parses ``POS`` to answer 400 on bad syntax).
"""

from __future__ import annotations

import math

from workers.services.cutout.target import (
    MAX_RADIUS_DEG,
    Target,
    check_dec,
    check_extent,
    check_ra,
    circle_target,
    to_float,
    usage,
)

__all__ = ["parse_pos"]


def _cos_dec(dec: float) -> float:
    # Keeps the RA extent finite at the poles (a box there spans every RA anyway).
    return max(math.cos(math.radians(dec)), 1e-6)


def _wrap180(angle: float) -> float:
    return (angle + 180.0) % 360.0 - 180.0


def parse_pos(value: str, *, parameter: str = "POS", name: str = "") -> Target:
    """Parse one SODA shape (``CIRCLE``, ``RANGE`` or ``POLYGON`` followed by degrees).

    Raises
    ------
    UsageError
        Naming ``parameter`` and ``value`` and saying what is wrong.
    """
    parts = value.split()
    if not parts:
        raise usage(parameter, value, "empty; expected CIRCLE, RANGE or POLYGON followed by degrees")
    keyword = parts[0].upper()
    numbers = [to_float(parameter, value, text, "value") for text in parts[1:]]
    if keyword == "CIRCLE":
        if len(numbers) != 3:
            raise usage(parameter, value, "CIRCLE takes 3 numbers: ra dec radius")
        ra = check_ra(parameter, value, numbers[0])
        dec = check_dec(parameter, value, numbers[1])
        radius = numbers[2]
        if radius <= 0:
            raise usage(parameter, value, f"radius {radius:g} must be > 0")
        if radius > MAX_RADIUS_DEG:
            raise usage(parameter, value, f"radius {radius:g} is larger than {MAX_RADIUS_DEG:g} degrees")
        return circle_target(name, ra, dec, radius)
    if keyword == "RANGE":
        if len(numbers) != 4:
            raise usage(parameter, value, "RANGE takes 4 numbers: ra1 ra2 dec1 dec2")
        ra1, ra2 = (check_ra(parameter, value, v) for v in numbers[:2])
        dec1, dec2 = (check_dec(parameter, value, v) for v in numbers[2:])
        if dec1 >= dec2:
            raise usage(parameter, value, "dec1 must be smaller than dec2")
        if ra1 == ra2:
            raise usage(parameter, value, "ra1 and ra2 are equal")
        # ra1 > ra2 means the range crosses RA 0 (e.g. RANGE 350 10 ...): the
        # SPT-3G main field does, so this reading is the useful one.
        span = (ra2 - ra1) % 360.0
        dec = (dec1 + dec2) / 2
        ra = (ra1 + span / 2) % 360.0
        width, height = span * _cos_dec(dec), dec2 - dec1
        check_extent(parameter, value, width, height)
        pos = f"RANGE {ra1!r} {ra2!r} {dec1!r} {dec2!r}"
        return Target(name, ra, dec, "range", width, height, pos)
    if keyword == "POLYGON":
        if len(numbers) % 2:
            raise usage(parameter, value, "POLYGON takes pairs of numbers: ra1 dec1 ra2 dec2 ...")
        if len(numbers) < 6:
            raise usage(parameter, value, "POLYGON needs at least 3 vertices")
        ras = [check_ra(parameter, value, v) for v in numbers[0::2]]
        decs = [check_dec(parameter, value, v) for v in numbers[1::2]]
        # Offsets from the first vertex, so a polygon across RA 0 stays compact.
        offsets = [_wrap180(r - ras[0]) for r in ras]
        dec_lo, dec_hi = min(decs), max(decs)
        dec = (dec_lo + dec_hi) / 2
        ra = (ras[0] + (min(offsets) + max(offsets)) / 2) % 360.0
        width, height = (max(offsets) - min(offsets)) * _cos_dec(dec), dec_hi - dec_lo
        check_extent(parameter, value, width, height)
        pos = "POLYGON " + " ".join(f"{r!r} {d!r}" for r, d in zip(ras, decs, strict=True))
        return Target(name, ra, dec, "polygon", width, height, pos)
    raise usage(parameter, value, f"unknown shape {parts[0]!r}; expected CIRCLE, RANGE or POLYGON")
