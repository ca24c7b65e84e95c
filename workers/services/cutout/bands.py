"""SPT-3G bands: the nominal frequencies, and reading a band from a request or from a map header.

Standard library only: the API validates ``band=`` with :func:`parse_band`
without loading astropy.
"""

from __future__ import annotations

import math
import re
from typing import Any

from spt_api.services.errors import UsageError

__all__ = ["BANDS", "parse_band", "parse_band_value"]

#: Nominal SPT-3G bands (GHz). 90 is accepted for 95: both names are in use.
BANDS: tuple[int, ...] = (95, 150, 220)
_BAND_ALIASES: dict[int, int] = {90: 95}
#: Relative distance within which a header frequency is read as a nominal band (93.5 → 95).
BAND_TOLERANCE = 0.15
_SPEED_OF_LIGHT = 299_792_458.0  # m/s


def _band_error(value: Any, why: str = "") -> UsageError:
    expected = f"expected one of {', '.join(map(str, BANDS))} (GHz) or a SODA wavelength interval in metres"
    shown = str(value) if len(str(value)) <= 80 else str(value)[:77] + "..."
    return UsageError(f"invalid parameter band {shown!r}: {why or expected}", parameter="band")


def parse_band(value: Any) -> list[int]:
    """Read one ``band`` value: ``150``, ``"150GHz"``, ``"f150"`` (``90`` means 95), or SODA ``BAND``.

    SODA's ``BAND`` is a wavelength interval in metres (``"0.0019 0.0021"``,
    what pyvo's ``SodaQuery(band=...)`` sends); it selects every SPT-3G band
    whose nominal wavelength lies inside. Hence a list.
    """
    text = str(value).strip().lower()
    parts = text.replace(",", " ").split()
    if len(parts) >= 2 and all(
        re.fullmatch(r"f?\d+(?:\.\d*)?(?:ghz)?", p) and float(p.strip("fghz")) >= 1 for p in parts
    ):
        # "95 150" or "95,150": several bands in GHz (no mm-wave wavelength is >= 1 m).
        return [band for p in parts for band in parse_band(p)]
    if len(parts) == 2:
        try:
            low, high = sorted(float(p) for p in parts)
        except ValueError:
            raise _band_error(value) from None
        if math.isnan(low) or math.isnan(high):
            raise _band_error(value)
        bands = [b for b in BANDS if low <= _SPEED_OF_LIGHT / (b * 1e9) <= high]
        if not bands:
            wavelengths = ", ".join(f"{b} GHz = {_SPEED_OF_LIGHT / (b * 1e9):.5f} m" for b in BANDS)
            raise _band_error(value, f"no band in this wavelength interval (metres; {wavelengths})")
        return bands
    match = re.fullmatch(r"f?(\d+(?:\.\d*)?)\s*(?:ghz)?", text)
    if match is None:
        raise _band_error(value)
    frequency = float(match.group(1))
    if not math.isfinite(frequency):  # 309 digits or more: round() would raise OverflowError
        raise _band_error(value)
    number = round(frequency)
    band = _BAND_ALIASES.get(number, number)
    if band not in BANDS:
        raise _band_error(value)
    return [band]


def parse_band_value(value: Any) -> int | None:
    """Read a band from a header value: ``150``, ``"150GHz"``, ``"f150"``, ``1.5e11`` (Hz), ``"90"``.

    Returns the nominal SPT-3G band when the frequency is within 15 % of one,
    else the frequency rounded to GHz; ``None`` when there is no number.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    else:
        match = re.search(r"(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*(ghz|mhz|hz)?", str(value).lower())
        if match is None:
            return None
        number = float(match.group(1))
        unit = match.group(2)
        if unit == "mhz":
            number /= 1e3
        elif unit == "hz":
            number /= 1e9
    if number > 1e6:  # a frequency in Hz
        number /= 1e9
    if not math.isfinite(number) or number <= 0:
        return None
    nominal = min(BANDS, key=lambda band: abs(band - number))
    if abs(nominal - number) <= BAND_TOLERANCE * nominal:
        return nominal
    return round(number)
