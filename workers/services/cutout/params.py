"""Parameters of the ``cutout`` service (light: imported by the API server).

Only the standard library and pydantic here: the API validates a submission
(400 on bad syntax, naming the parameter and value) without loading astropy.

Positions come from four places, in this order:

* ``POS`` in SODA syntax, repeatable: ``CIRCLE ra dec radius``,
  ``RANGE ra1 ra2 dec1 dec2`` or ``POLYGON ra1 dec1 ra2 dec2 ...`` (degrees);
* ``CIRCLE`` and ``POLYGON``, the SODA shorthands without the keyword;
* the convenience pair ``ra``/``dec`` with ``size`` (full width, arcmin);
* ``positions``: an uploaded table (CSV, or VOTable TABLEDATA) with the columns
  ``name, ra, dec[, size]``.

Every one becomes a :class:`Target`, a box on the sky centred on ``ra, dec``.
"""

from __future__ import annotations

import csv
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from spt_api.services import ParamsModel, ServiceSpec
from spt_api.services.errors import UsageError
from workers.services.cutout.settings import CutoutSettings

__all__ = [
    "BANDS",
    "COLORMAPS",
    "DEFAULT_SIZE_ARCMIN",
    "MAX_POSITIONS",
    "MAX_RADIUS_DEG",
    "SERVICE",
    "CutoutParams",
    "Target",
    "chunk_targets",
    "parse_band",
    "parse_pos",
    "parse_positions_table",
    "split",
]

#: Nominal SPT-3G bands (GHz). 90 is accepted for 95: both names are in use.
BANDS: tuple[int, ...] = (95, 150, 220)
_BAND_ALIASES: dict[int, int] = {90: 95}

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
#: Longest uploaded table accepted (characters).
MAX_TABLE_CHARS = 8 * 1024 * 1024

#: Colormaps a PNG may use. A fixed list (not "anything matplotlib knows") keeps
#: the parameter documented and valid across matplotlib versions.
COLORMAPS: tuple[str, ...] = (
    "viridis",
    "plasma",
    "inferno",
    "magma",
    "cividis",
    "gray",
    "gray_r",
    "Greys",
    "Greys_r",
    "bone",
    "hot",
    "afmhot",
    "cubehelix",
    "RdBu_r",
    "coolwarm",
    "seismic",
    "twilight",
    "Spectral_r",
)
_COLORMAP_BY_LOWER = {name.lower(): name for name in COLORMAPS}

_FORMAT_ALIASES = {
    "fits": "fits",
    "application/fits": "fits",
    "image/fits": "fits",
    "png": "png",
    "image/png": "png",
    "both": "both",
}
_BUNDLE_ALIASES = {"none": "none", "": "none", "tar.gz": "tar.gz", "tgz": "tar.gz", "zip": "zip"}

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


def _usage(label: str, value: str, why: str) -> UsageError:
    """A UsageError naming the parameter and value; ``label`` may add where ("positions row 3")."""
    shown = value if len(value) <= 80 else value[:77] + "..."
    return UsageError(f"invalid parameter {label} {shown!r}: {why}", parameter=label.split()[0])


def _float(parameter: str, value: str, text: str, what: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise _usage(parameter, value, f"{what} {text!r} is not a number") from None
    if not math.isfinite(number):
        # SODA allows open RANGE bounds (+Inf/-Inf); an unbounded box cannot be
        # cut from a map, so it is refused here rather than clipped silently.
        raise _usage(parameter, value, f"{what} must be finite")
    return number


def _check_ra(parameter: str, value: str, ra: float) -> float:
    if not 0.0 <= ra <= 360.0:
        raise _usage(parameter, value, f"ra {ra:g} is outside [0, 360]")
    return ra % 360.0


def _check_dec(parameter: str, value: str, dec: float) -> float:
    if not -90.0 <= dec <= 90.0:
        raise _usage(parameter, value, f"dec {dec:g} is outside [-90, 90]")
    return dec


def _check_extent(parameter: str, value: str, width: float, height: float) -> None:
    limit = 2 * MAX_RADIUS_DEG
    if width > limit or height > limit:
        raise _usage(parameter, value, f"the box is larger than {limit:g} degrees on a side")
    if width <= 0 or height <= 0:
        raise _usage(parameter, value, "the box is empty")


def _cos_dec(dec: float) -> float:
    # Keeps the RA extent finite at the poles (a box there spans every RA anyway).
    return max(math.cos(math.radians(dec)), 1e-6)


def _wrap180(angle: float) -> float:
    return (angle + 180.0) % 360.0 - 180.0


def circle_target(name: str, ra: float, dec: float, radius: float) -> Target:
    pos = f"CIRCLE {ra!r} {dec!r} {radius!r}"
    return Target(name, ra, dec, "circle", 2 * radius, 2 * radius, pos)


def parse_pos(value: str, *, parameter: str = "POS", name: str = "") -> Target:
    """Parse one SODA shape (``CIRCLE``, ``RANGE`` or ``POLYGON`` followed by degrees).

    Raises
    ------
    UsageError
        Naming ``parameter`` and ``value`` and saying what is wrong.
    """
    parts = value.split()
    if not parts:
        raise _usage(parameter, value, "empty; expected CIRCLE, RANGE or POLYGON followed by degrees")
    keyword = parts[0].upper()
    numbers = [_float(parameter, value, text, "value") for text in parts[1:]]
    if keyword == "CIRCLE":
        if len(numbers) != 3:
            raise _usage(parameter, value, "CIRCLE takes 3 numbers: ra dec radius")
        ra = _check_ra(parameter, value, numbers[0])
        dec = _check_dec(parameter, value, numbers[1])
        radius = numbers[2]
        if radius <= 0:
            raise _usage(parameter, value, f"radius {radius:g} must be > 0")
        if radius > MAX_RADIUS_DEG:
            raise _usage(parameter, value, f"radius {radius:g} is larger than {MAX_RADIUS_DEG:g} degrees")
        return circle_target(name, ra, dec, radius)
    if keyword == "RANGE":
        if len(numbers) != 4:
            raise _usage(parameter, value, "RANGE takes 4 numbers: ra1 ra2 dec1 dec2")
        ra1, ra2 = (_check_ra(parameter, value, v) for v in numbers[:2])
        dec1, dec2 = (_check_dec(parameter, value, v) for v in numbers[2:])
        if dec1 >= dec2:
            raise _usage(parameter, value, "dec1 must be smaller than dec2")
        if ra1 == ra2:
            raise _usage(parameter, value, "ra1 and ra2 are equal")
        # ra1 > ra2 means the range crosses RA 0 (e.g. RANGE 350 10 ...): the
        # SPT-3G main field does, so this reading is the useful one.
        span = (ra2 - ra1) % 360.0
        dec = (dec1 + dec2) / 2
        ra = (ra1 + span / 2) % 360.0
        width, height = span * _cos_dec(dec), dec2 - dec1
        _check_extent(parameter, value, width, height)
        pos = f"RANGE {ra1!r} {ra2!r} {dec1!r} {dec2!r}"
        return Target(name, ra, dec, "range", width, height, pos)
    if keyword == "POLYGON":
        if len(numbers) % 2:
            raise _usage(parameter, value, "POLYGON takes pairs of numbers: ra1 dec1 ra2 dec2 ...")
        if len(numbers) < 6:
            raise _usage(parameter, value, "POLYGON needs at least 3 vertices")
        ras = [_check_ra(parameter, value, v) for v in numbers[0::2]]
        decs = [_check_dec(parameter, value, v) for v in numbers[1::2]]
        # Offsets from the first vertex, so a polygon across RA 0 stays compact.
        offsets = [_wrap180(r - ras[0]) for r in ras]
        dec_lo, dec_hi = min(decs), max(decs)
        dec = (dec_lo + dec_hi) / 2
        ra = (ras[0] + (min(offsets) + max(offsets)) / 2) % 360.0
        width, height = (max(offsets) - min(offsets)) * _cos_dec(dec), dec_hi - dec_lo
        _check_extent(parameter, value, width, height)
        pos = "POLYGON " + " ".join(f"{r!r} {d!r}" for r, d in zip(ras, decs, strict=True))
        return Target(name, ra, dec, "polygon", width, height, pos)
    raise _usage(parameter, value, f"unknown shape {parts[0]!r}; expected CIRCLE, RANGE or POLYGON")


_SPEED_OF_LIGHT = 299_792_458.0  # m/s


def _band_error(value: Any, why: str = "") -> UsageError:
    expected = f"expected one of {', '.join(map(str, BANDS))} (GHz) or a SODA wavelength interval in metres"
    return UsageError(f"invalid parameter band {value!r}: {why or expected}", parameter="band")


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
    number = round(float(match.group(1)))
    band = _BAND_ALIASES.get(number, number)
    if band not in BANDS:
        raise _band_error(value)
    return [band]


# --- uploaded tables -------------------------------------------------------------

_COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("name", "id", "source", "source_id", "target", "object", "objname"),
    "ra": ("ra", "ra_deg", "raj2000", "ra_icrs", "_raj2000"),
    "dec": ("dec", "dec_deg", "dej2000", "decj2000", "dec_icrs", "_dej2000"),
    "size": ("size", "size_arcmin"),
}
_UCD_COLUMNS = {"pos.eq.ra;meta.main": "ra", "pos.eq.dec;meta.main": "dec", "meta.id;meta.main": "name"}


def _column_map(header: Sequence[str], ucds: Sequence[str] = ()) -> dict[str, int]:
    lowered = [h.strip().lower() for h in header]
    found: dict[str, int] = {}
    for column, aliases in _COLUMN_ALIASES.items():
        for alias in aliases:
            if alias in lowered:
                found[column] = lowered.index(alias)
                break
    for index, ucd in enumerate(ucds):
        by_ucd = _UCD_COLUMNS.get(ucd.strip().lower())
        if by_ucd and by_ucd not in found:
            found[by_ucd] = index
    missing = [c for c in ("ra", "dec") if c not in found]
    if missing:
        raise UsageError(
            f"invalid parameter positions: no {' or '.join(missing)} column in the header "
            f"{[h.strip() for h in header]!r} (expected name, ra, dec[, size])",
            parameter="positions",
        )
    return found


def _rows_to_targets(
    rows: Iterable[tuple[int, Sequence[str]]], columns: dict[str, int], default_size: float
) -> list[Target]:
    targets: list[Target] = []
    for line, row in rows:
        if len(targets) >= MAX_POSITIONS:
            raise UsageError(f"invalid parameter positions: more than {MAX_POSITIONS} rows", parameter="positions")
        where = f"positions row {line}"

        def cell(column: str, row: Sequence[str] = row) -> str:
            index = columns.get(column)
            return row[index].strip() if index is not None and index < len(row) else ""

        ra_text, dec_text, size_text = cell("ra"), cell("dec"), cell("size")
        ra = _check_ra(where, ra_text, _float(where, ra_text, ra_text, "ra"))
        dec = _check_dec(where, dec_text, _float(where, dec_text, dec_text, "dec"))
        size = _float(where, size_text, size_text, "size") if size_text else default_size
        if not 0 < size <= MAX_SIZE_ARCMIN:
            raise _usage(where, size_text, f"size must be in (0, {MAX_SIZE_ARCMIN:g}] arcmin")
        targets.append(circle_target(cell("name") or f"row{line}", ra, dec, size / 120.0))
    return targets


def _parse_csv(text: str, default_size: float) -> list[Target]:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise UsageError("invalid parameter positions: the table is empty", parameter="positions")
    try:
        dialect: Any = csv.Sniffer().sniff(lines[0], delimiters=",\t;|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(lines, dialect)
    header = next(reader)
    columns = _column_map(header)
    return _rows_to_targets(((n, row) for n, row in enumerate(reader, start=1)), columns, default_size)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse_votable(text: str, default_size: float) -> list[Target]:
    # ElementTree on the bundled expat (>= 2.4.1) refuses entity-expansion bombs.
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise UsageError(f"invalid parameter positions: not valid XML ({exc})", parameter="positions") from None
    table = next((el for el in root.iter() if _local(el.tag) == "TABLE"), None)
    if table is None:
        raise UsageError("invalid parameter positions: no TABLE in the VOTable", parameter="positions")
    fields = [el for el in table if _local(el.tag) == "FIELD"]
    header = [f.get("name") or f.get("ID") or "" for f in fields]
    ucds = [f.get("ucd") or "" for f in fields]
    columns = _column_map(header, ucds)
    data = next((el for el in table.iter() if _local(el.tag) in ("TABLEDATA", "BINARY", "BINARY2", "FITS")), None)
    if data is None:
        return []
    if _local(data.tag) != "TABLEDATA":
        # Binary serialisations would need astropy here, in the API process.
        raise UsageError(
            f"invalid parameter positions: VOTable {_local(data.tag)} serialisation is not supported; "
            "send TABLEDATA or CSV",
            parameter="positions",
        )
    rows = (
        (n, [td.text or "" for td in tr if _local(td.tag) == "TD"])
        for n, tr in enumerate((tr for tr in data if _local(tr.tag) == "TR"), start=1)
    )
    return _rows_to_targets(rows, columns, default_size)


def parse_positions_table(text: str, *, default_size: float = DEFAULT_SIZE_ARCMIN) -> list[Target]:
    """Parse an uploaded table of positions: CSV (or TSV) with a header, or a VOTable.

    Columns (case-insensitive, common aliases accepted): ``name`` (optional),
    ``ra``, ``dec`` (degrees), ``size`` (optional, full width in arcmin).

    Raises
    ------
    UsageError
        Naming the row and value at fault.
    """
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("<"):
        return _parse_votable(stripped, default_size)
    return _parse_csv(stripped, default_size)


def _unique_names(targets: list[Target]) -> list[Target]:
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


# --- the model --------------------------------------------------------------------


def _lower_choice(value: Any, aliases: dict[str, str], parameter: str) -> Any:
    if isinstance(value, str):
        key = value.strip().lower()
        if key in aliases:
            return aliases[key]
        choices = ", ".join(sorted(set(aliases.values())))
        raise UsageError(f"invalid parameter {parameter} {value!r}: expected one of {choices}", parameter=parameter)
    return value


class CutoutParams(ParamsModel):
    """Parameters of a cutout job (and of a SODA sync request)."""

    pos: list[str] = Field(
        [],
        title="Positions in SODA syntax (repeatable)",
        description="CIRCLE ra dec radius | RANGE ra1 ra2 dec1 dec2 | POLYGON ra1 dec1 ra2 dec2 ... (degrees, ICRS)",
        examples=["CIRCLE 352.5 -55.2 0.05"],
    )
    circle: list[str] = Field([], title="SODA CIRCLE: ra dec radius (degrees, repeatable)")
    polygon: list[str] = Field([], title="SODA POLYGON: ra1 dec1 ra2 dec2 ... (degrees, repeatable)")
    name: list[str] = Field(
        [], title="Names of the POS, CIRCLE and POLYGON targets, in that order (optional, repeatable)"
    )
    ra: float | None = Field(None, title="Right ascension of a single position (degrees)")
    dec: float | None = Field(None, title="Declination of a single position (degrees)")
    size: float = Field(
        DEFAULT_SIZE_ARCMIN,
        title="Full width of the cutout for ra/dec and for table rows without a size (arcmin)",
    )
    positions_table: str | None = Field(
        None,
        alias="positions",
        title="Table of positions: CSV or VOTable (TABLEDATA) text with columns name, ra, dec[, size]",
        max_length=MAX_TABLE_CHARS,
    )
    band: list[int] = Field(
        [],
        title=f"Bands in GHz (repeatable; {', '.join(map(str, BANDS))}) or a SODA wavelength interval; default: all",
    )
    map: list[str] = Field(
        [], alias="ID", title="Map release or field names (repeatable); default: every map covering the position"
    )
    format: Literal["fits", "png", "both"] = Field("fits", title="Output format of each cutout")
    scaling: Literal["linear", "asinh", "zscale"] = Field("zscale", title="PNG intensity scaling")
    colormap: str = Field("gray", title=f"PNG colormap, one of: {', '.join(COLORMAPS)}")
    axes: bool = Field(False, title="Draw coordinate-labelled axes and a colour bar on PNGs")
    bundle: Literal["none", "tar.gz", "zip"] = Field(
        "none", title="Return one archive with a manifest instead of one result per file"
    )

    _targets: list[Target] | None = PrivateAttr(None)

    @field_validator("pos", "circle", "polygon", mode="before")
    @classmethod
    def _check_shapes(cls, values: Any, info: ValidationInfo) -> Any:
        if isinstance(values, str):
            values = [values]
        field = str(info.field_name)
        prefix = {"pos": "", "circle": "CIRCLE ", "polygon": "POLYGON "}[field]
        for value in values:
            parse_pos(prefix + str(value), parameter=field.upper())
        return values

    @field_validator("ra", "dec", mode="before")
    @classmethod
    def _check_coordinate(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or value == "":
            return None
        parameter = str(info.field_name)
        number = _float(parameter, str(value), str(value), parameter)
        if parameter == "ra":
            return _check_ra(parameter, str(value), number)
        return _check_dec(parameter, str(value), number)

    @field_validator("size", mode="before")
    @classmethod
    def _check_size(cls, value: Any) -> Any:
        number = _float("size", str(value), str(value), "size")
        if not 0 < number <= MAX_SIZE_ARCMIN:
            raise _usage("size", str(value), f"must be in (0, {MAX_SIZE_ARCMIN:g}] arcmin")
        return number

    @field_validator("band", mode="before")
    @classmethod
    def _check_band(cls, values: Any) -> Any:
        if not isinstance(values, list):
            values = [values]
        bands: list[int] = []
        for value in values:
            for band in parse_band(value):
                if band not in bands:
                    bands.append(band)
        return bands

    @field_validator("map", mode="before")
    @classmethod
    def _check_map(cls, values: Any) -> Any:
        if isinstance(values, str):
            values = [values]
        for value in values:
            if not str(value).strip() or len(str(value)) > 200:
                raise _usage("ID", str(value), "a map or field name of 1 to 200 characters")
        return values

    @field_validator("format", mode="before")
    @classmethod
    def _check_format(cls, value: Any) -> Any:
        return _lower_choice(value, _FORMAT_ALIASES, "format")

    @field_validator("scaling", mode="before")
    @classmethod
    def _check_scaling(cls, value: Any) -> Any:
        return _lower_choice(value, {s: s for s in ("linear", "asinh", "zscale")}, "scaling")

    @field_validator("bundle", mode="before")
    @classmethod
    def _check_bundle(cls, value: Any) -> Any:
        return _lower_choice(value, _BUNDLE_ALIASES, "bundle")

    @field_validator("colormap", mode="before")
    @classmethod
    def _check_colormap(cls, value: Any) -> Any:
        name = _COLORMAP_BY_LOWER.get(str(value).strip().lower())
        if name is None:
            raise UsageError(
                f"invalid parameter colormap {value!r}: expected one of {', '.join(COLORMAPS)}",
                parameter="colormap",
            )
        return name

    @model_validator(mode="after")
    def _check_positions(self) -> Self:
        if (self.ra is None) != (self.dec is None):
            missing = "dec" if self.dec is None else "ra"
            raise UsageError(f"parameter {missing!r} is missing: ra and dec go together", parameter=missing)
        shapes = len(self.pos) + len(self.circle) + len(self.polygon)
        if len(self.name) > shapes:
            raise UsageError(
                f"invalid parameter name: {len(self.name)} names for {shapes} POS/CIRCLE/POLYGON values",
                parameter="name",
            )
        targets = self._build_targets()
        if not targets:
            raise UsageError(
                "no position given: use POS (or CIRCLE/POLYGON), ra and dec, or a positions table",
                parameter="POS",
            )
        if len(targets) > MAX_POSITIONS:
            raise UsageError(f"too many positions: {len(targets)} > {MAX_POSITIONS}", parameter="POS")
        self._targets = targets
        return self

    def _build_targets(self) -> list[Target]:
        shapes = [*self.pos, *(f"CIRCLE {v}" for v in self.circle), *(f"POLYGON {v}" for v in self.polygon)]
        targets: list[Target] = []
        for index, value in enumerate(shapes):
            name = self.name[index] if index < len(self.name) and self.name[index] else f"pos{index + 1}"
            targets.append(parse_pos(value, name=name))
        if self.ra is not None and self.dec is not None:
            targets.append(circle_target("target", self.ra, self.dec, self.size / 120.0))
        if self.positions_table:
            targets.extend(parse_positions_table(self.positions_table, default_size=self.size))
        return _unique_names(targets)

    def positions(self) -> list[Target]:
        """Every target, normalised (unique names, degrees, canonical SODA ``pos``), in input order."""
        if self._targets is None:
            self._targets = self._build_targets()
        return list(self._targets)

    def chunks(self, size: int) -> list[CutoutParams]:
        """Split into parameter sets of at most ``size`` positions each, for fan-out to workers.

        Each chunk carries its targets as canonical ``POS`` values plus ``name``,
        so a chunk rebuilds exactly the same targets (names included) and can be
        sent as a JSON task message like any other parameters.
        """
        options = self.model_dump(exclude={"pos", "circle", "polygon", "name", "ra", "dec", "positions_table"})
        return [
            type(self).model_validate({**options, "pos": [t.pos for t in chunk], "name": [t.name for t in chunk]})
            for chunk in chunk_targets(self.positions(), size)
        ]


#: Positions per child job when ``settings`` gives no ``fan_out_chunk`` (the Settings default).
DEFAULT_FAN_OUT_CHUNK = 500


def split(params: CutoutParams, settings: Any = None) -> list[CutoutParams]:
    """Fan-out: the parameter sets of the child jobs of a large job.

    A job of at most ``settings.fan_out_chunk`` positions (``SPT_API_FAN_OUT_CHUNK``)
    is returned unchanged, as the only set: it runs as one job. A larger one is cut
    into consecutive chunks of that many positions (:meth:`CutoutParams.chunks`:
    the same targets and names, so the same file names), each with ``bundle=none``:
    children store their files and manifests, and ``merge`` builds the one bundle.
    """
    size = int(getattr(settings, "fan_out_chunk", None) or DEFAULT_FAN_OUT_CHUNK)
    if len(params.positions()) <= size:
        return [params]
    return [chunk.model_copy(update={"bundle": "none"}) for chunk in params.chunks(size)]


SERVICE = ServiceSpec(
    name="cutout",
    title="Map cutouts",
    description=(
        "Postage stamps of the SPT-3G maps around sky positions (SODA POS, ra/dec or an uploaded table), "
        "in every requested band, as FITS and/or PNG, one result per file or one archive with a manifest."
    ),
    params_model=CutoutParams,
    run="workers.services.cutout.run:run",
    queue="cutout",
    settings=CutoutSettings,
    extra="cutout",
    default_execution_duration=3600,
    split="workers.services.cutout.params:split",
    merge="workers.services.cutout.merge:merge",
    sync="workers.services.cutout.run:sync",
    health="workers.services.cutout.health:health",
)
