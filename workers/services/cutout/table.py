"""Uploaded tables of positions (``positions``): CSV (or TSV) with a header, or a VOTable (TABLEDATA).

Columns (case-insensitive, common aliases accepted): ``name`` (optional),
``ra``, ``dec`` (degrees), ``size`` (optional, full width in arcmin). Standard
library only: the API parses the table to validate a submission.
"""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence

from spt_api.services.errors import UsageError
from workers.services.cutout.target import (
    DEFAULT_SIZE_ARCMIN,
    MAX_POSITIONS,
    MAX_SIZE_ARCMIN,
    Target,
    check_dec,
    check_ra,
    circle_target,
    to_float,
    usage,
)

__all__ = ["MAX_HEADER_CHARS", "MAX_TABLE_CHARS", "parse_positions_table"]

#: Longest uploaded table accepted (characters).
MAX_TABLE_CHARS = 8 * 1024 * 1024
#: Longest header line of a CSV table (characters): column names are short,
#: and a bounded header keeps finding its delimiter cheap whatever is sent.
MAX_HEADER_CHARS = 4096
#: Delimiters a CSV table may use, in order of preference on a tie.
_DELIMITERS = ",\t;|"

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
        ra = check_ra(where, ra_text, to_float(where, ra_text, ra_text, "ra"))
        dec = check_dec(where, dec_text, to_float(where, dec_text, dec_text, "dec"))
        size = to_float(where, size_text, size_text, "size") if size_text else default_size
        if not 0 < size <= MAX_SIZE_ARCMIN:
            raise usage(where, size_text, f"size must be in (0, {MAX_SIZE_ARCMIN:g}] arcmin")
        targets.append(circle_target(cell("name") or f"row{line}", ra, dec, size / 120.0))
    return targets


def _check_row_count(rows: int) -> None:
    # Counted before any row is parsed: a table over the limit is refused whatever its rows hold.
    if rows > MAX_POSITIONS:
        raise UsageError(
            f"invalid parameter positions: {rows} rows, more than {MAX_POSITIONS} rows (the most one job "
            "may cut); split the table into several jobs",
            parameter="positions",
        )


def _delimiter(header: str) -> str:
    """The header's delimiter: the candidate found most often outside double quotes (``,`` on a tie or none).

    Linear in the header, unlike ``csv.Sniffer`` (quadratic in quoted cells).
    """
    unquoted = header.split('"')[0::2]
    counts = {d: sum(part.count(d) for part in unquoted) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=counts.__getitem__)
    return best if counts[best] else ","


def _parse_csv(text: str, default_size: float) -> list[Target]:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise UsageError("invalid parameter positions: the table is empty", parameter="positions")
    header_line = lines[0]
    if len(header_line) > MAX_HEADER_CHARS:
        raise UsageError(
            f"invalid parameter positions: the header line is {len(header_line)} characters long, "
            f"more than {MAX_HEADER_CHARS} (expected the column names name, ra, dec[, size])",
            parameter="positions",
        )
    _check_row_count(len(lines) - 1)
    reader = csv.reader(lines, delimiter=_delimiter(header_line), quotechar='"', skipinitialspace=True)
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
    trs = [tr for tr in data if _local(tr.tag) == "TR"]
    _check_row_count(len(trs))
    rows = ((n, [td.text or "" for td in tr if _local(td.tag) == "TD"]) for n, tr in enumerate(trs, start=1))
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
