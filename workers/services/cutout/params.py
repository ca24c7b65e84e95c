"""Parameters of the ``cutout`` service and its declaration (light: imported by the API server).

Only the standard library and pydantic here, and the light modules that parse
positions (``soda``, ``table``, ``target``, ``bands``): the API validates a
submission (400 on bad syntax, naming the parameter and value) without loading astropy.

Positions come from four places, in this order:

* ``POS`` in SODA syntax, repeatable: ``CIRCLE ra dec radius``,
  ``RANGE ra1 ra2 dec1 dec2`` or ``POLYGON ra1 dec1 ra2 dec2 ...`` (degrees);
* ``CIRCLE`` and ``POLYGON``, the SODA shorthands without the keyword;
* the convenience pair ``ra``/``dec`` with ``size`` (full width, arcmin);
* ``positions``: an uploaded table (CSV, or VOTable TABLEDATA) with the columns
  ``name, ra, dec[, size]``.

Every one becomes a :class:`~workers.services.cutout.target.Target`, a box on
the sky centred on ``ra, dec``.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from spt_api.services import ParamsModel, ServiceSpec
from spt_api.services.errors import UsageError
from workers.services.cutout.bands import BANDS, parse_band
from workers.services.cutout.settings import CutoutSettings
from workers.services.cutout.soda import parse_pos
from workers.services.cutout.table import MAX_TABLE_CHARS, parse_positions_table
from workers.services.cutout.target import (
    DEFAULT_SIZE_ARCMIN,
    MAX_POSITIONS,
    MAX_SIZE_ARCMIN,
    Target,
    check_dec,
    check_ra,
    chunk_targets,
    circle_target,
    to_float,
    unique_names,
    usage,
)

__all__ = [
    "COLORMAPS",
    "SERVICE",
    "CutoutParams",
    "split",
]

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
        # The usual choices, for forms generated from the schema (the web app shows them as checkboxes).
        json_schema_extra={"x-options": list(BANDS)},
    )
    map: list[str] = Field(
        [], alias="ID", title="Map release or field names (repeatable); default: every map covering the position"
    )
    format: Literal["fits", "png", "both"] = Field("fits", title="Output format of each cutout")
    scaling: Literal["linear", "asinh", "zscale"] = Field("zscale", title="PNG intensity scaling")
    colormap: str = Field(
        "gray", title=f"PNG colormap, one of: {', '.join(COLORMAPS)}", json_schema_extra={"x-options": list(COLORMAPS)}
    )
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
        number = to_float(parameter, str(value), str(value), parameter)
        if parameter == "ra":
            return check_ra(parameter, str(value), number)
        return check_dec(parameter, str(value), number)

    @field_validator("size", mode="before")
    @classmethod
    def _check_size(cls, value: Any) -> Any:
        number = to_float("size", str(value), str(value), "size")
        if not 0 < number <= MAX_SIZE_ARCMIN:
            raise usage("size", str(value), f"must be in (0, {MAX_SIZE_ARCMIN:g}] arcmin")
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
                raise usage("ID", str(value), "a map or field name of 1 to 200 characters")
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
        return unique_names(targets)

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
    cli="workers.services.cutout.cli:register_cli",
    health="workers.services.cutout.health:health",
)
