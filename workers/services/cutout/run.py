"""Execution of the ``cutout`` service: ``run(params, ctx)`` for jobs, ``cut_one`` for SODA sync.

A job loops over its positions; for each, the map catalogue names the HDUs
covering it (no file opened to find out), each is cut (memory-mapped read, or
ranged GETs of the rows under the cutout when the maps are on S3),
and the FITS/PNG files go either to one result each or into one archive. Every
position ends up in the manifest with its status, so a job with some positions
off the maps still completes with the others; it fails only when nothing at all
could be cut, with a message saying why.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from spt_api.config import Settings
from spt_api.services import JobContext, SyncResult
from spt_api.services.errors import FatalJobError, UsageError
from workers.services.cutout.bundle import (
    SUCCESS,
    ManifestRow,
    Output,
    summarize,
)
from workers.services.cutout.catalogue import Catalogue
from workers.services.cutout.cut import make_cutout, prefetch_cutout
from workers.services.cutout.fits_writer import fits_bytes
from workers.services.cutout.map_entry import MapEntry
from workers.services.cutout.map_reader import MapReader
from workers.services.cutout.maps import load_catalogue
from workers.services.cutout.names import cutout_filename, safe_name
from workers.services.cutout.params import CutoutParams
from workers.services.cutout.png import render_png
from workers.services.cutout.settings import CutoutSettings, maps_url
from workers.services.cutout.target import Target

if TYPE_CHECKING:
    from workers.services.cutout.s3_location import S3Location

__all__ = [
    "check_selection",
    "cut_one",
    "cut_positions",
    "maps_directory",
    "public_params",
    "run",
    "sync",
]

#: Positions between progress reports (and at most this long between them):
#: often enough for a live bar, rare enough not to flood the event channel.
PROGRESS_EVERY = 10
PROGRESS_SECONDS = 0.5
#: Band returned by the sync endpoint when none is asked for: SPT-3G's deepest.
DEFAULT_SYNC_BAND = 150
MIME = {"fits": "application/fits", "png": "image/png"}
#: Positions matched ahead of the one being cut; for maps on S3 their rows are
#: requested then, so the GETs overlap each other and the cutting and writing.
LOOKAHEAD = 16


def maps_directory(settings: Settings, cutout: CutoutSettings | None = None) -> Path | S3Location:
    """Where the maps are (``SPT_API_CUTOUT_MAPS_URL``, or ``SPT_API_MAPS_URL``): a directory or an S3 prefix.

    An ``s3://bucket/prefix`` gives an :class:`S3Location` carrying the S3
    endpoint and credentials of the core settings (those of the results store).
    """
    url = maps_url(settings, cutout)
    if url.startswith("s3://"):
        from workers.services.cutout.s3_location import S3Location

        try:
            return S3Location.from_url(url, settings)
        except ValueError as exc:
            raise FatalJobError(f"SPT_API_MAPS_URL={url!r}: {exc}") from exc
    if url.startswith("file://"):
        return Path(unquote(urlparse(url).path))
    return Path(url)


def check_selection(params: CutoutParams, catalogue: Catalogue) -> None:
    """Refuse bands and maps the catalogue does not have (the user's error, named).

    Raises
    ------
    UsageError
    """
    if not catalogue.entries:
        refused = "; ".join(f"{s.get('file')}: {s.get('reason')}" for s in catalogue.skipped[:5])
        raise FatalJobError(
            f"the map catalogue of {catalogue.directory} is empty" + (f" (files refused: {refused})" if refused else "")
        )
    have = catalogue.bands()
    missing = [b for b in params.band if b not in have]
    if missing and len(missing) == len(params.band):
        raise UsageError(
            f"no map in band {', '.join(map(str, missing))} GHz (maps exist in {', '.join(map(str, have))} GHz)",
            parameter="band",
        )
    for name in params.map:
        if not catalogue.select(maps=[name]):
            raise UsageError(f"unknown map {name!r} (known maps: {', '.join(catalogue.map_names())})", parameter="ID")


class _Output(Output):
    """A cutting job's output: each file it cuts goes into the bundle, or to storage as a result."""

    def emit(self, filename: str, data: bytes, fmt: str) -> str:
        if self.bundle is not None:
            return self.bundle.add(filename, data)
        # The bytes go to storage as they are: no scratch file to write and copy.
        self.ctx.add_result(filename, data, MIME[fmt], result_id=filename)
        return filename


def public_params(params: CutoutParams) -> dict[str, object]:
    """The job's parameters as recorded in ``manifest.json``."""
    # The uploaded table can be megabytes: the manifest lists its rows anyway.
    message = params.to_message()
    if message.get("positions_table"):
        message["positions_table"] = f"<{len(params.positions_table or '')} characters>"
    return message


def _formats(params: CutoutParams) -> tuple[str, ...]:
    return ("fits", "png") if params.format == "both" else (params.format,)


def _cut_target(
    target: Target,
    entries: Sequence[MapEntry],
    reader: MapReader,
    params: CutoutParams,
    output: _Output,
    aborted: Callable[[], bool],
) -> list[ManifestRow]:
    rows: list[ManifestRow] = []

    def row(entry: MapEntry | None, status: str, message: str, file: str = "", fmt: str = "") -> None:
        rows.append(
            ManifestRow(
                name=target.name,
                ra=target.ra,
                dec=target.dec,
                band=entry.band if entry else None,
                map=entry.map if entry else "",
                file=file,
                format=fmt,
                status=status,
                message=message,
                pos=target.pos,
                hdu=entry.key if entry else "",
            )
        )

    if not entries:
        where = "every map"
        if params.band or params.map:
            selection = [f"band {'/'.join(map(str, params.band))} GHz"] if params.band else []
            selection += [f"ID {'/'.join(params.map)}"] if params.map else []
            where += f" of {' and '.join(selection)}"
        row(None, "outside", f"outside {where}")
        return rows
    for index, entry in enumerate(entries):
        # Large stamps with labelled PNGs take a while per map: look for an
        # ABORT between maps too, so that it is seen within a second.
        if index and aborted():
            break
        try:
            cutout = make_cutout(reader, entry, target)
        except ValueError as exc:
            row(entry, "invalid", str(exc))
            continue
        except OSError as exc:
            row(entry, "error", f"reading {entry.key} failed: {exc}")
            continue
        if cutout is None:
            row(entry, "outside", "no overlap with this map")
            continue
        if not cutout.has_data:
            row(entry, "nodata", cutout.message)
            continue
        for fmt in _formats(params):
            if fmt == "fits":
                data = fits_bytes(cutout)
            else:
                data = render_png(cutout, scaling=params.scaling, colormap=params.colormap, axes=params.axes)
            filename = output.unique(cutout_filename(target, entry, fmt))
            file = output.emit(filename, data, fmt)
            row(entry, cutout.status, cutout.message, file, fmt)
    return rows


def cut_positions(
    targets: Sequence[Target],
    params: CutoutParams,
    catalogue: Catalogue,
    ctx: JobContext,
    output: _Output,
) -> tuple[list[ManifestRow], bool]:
    """Cut every target; returns the manifest rows and whether the job was aborted."""
    rows: list[ManifestRow] = []
    total = len(targets)
    bands, maps = params.band or None, params.map or None
    last_report = time.monotonic()
    ctx.progress(0, total, f"0 of {total} positions")
    upcoming = iter(targets)
    ahead: deque[tuple[Target, list[MapEntry]]] = deque()
    with MapReader() as reader:
        for done in range(total):
            # Checked between positions: one position takes milliseconds, so an
            # ABORT is seen well within a second.
            if ctx.is_aborted():
                return rows, True
            while len(ahead) <= LOOKAHEAD and (later := next(upcoming, None)) is not None:
                matched = catalogue.match(
                    later.ra, later.dec, later.radius, bands, maps, width=later.width, height=later.height
                )
                for entry in matched:
                    prefetch_cutout(reader, entry, later)
                ahead.append((later, matched))
            target, entries = ahead.popleft()
            rows.extend(_cut_target(target, entries, reader, params, output, ctx.is_aborted))
            now = time.monotonic()
            if (done + 1) % PROGRESS_EVERY == 0 or now - last_report >= PROGRESS_SECONDS:
                ctx.progress(done + 1, total, f"{done + 1} of {total} positions")
                last_report = now
    ctx.progress(total, total, f"{total} of {total} positions")
    return rows, False


def _nothing_cut(rows: Sequence[ManifestRow], catalogue: Catalogue) -> UsageError:
    summary = summarize(rows)["positions_by_status"]
    parts = [f"{count} {status}" for status, count in sorted(summary.items())]
    first = rows[0] if rows else None
    example = f" (first: {first.name!r} at ra={first.ra:g}, dec={first.dec:g}: {first.message})" if first else ""
    coverage = "; ".join(
        f"{name}: ra {e.bbox[0]:.1f}..{e.bbox[1]:.1f}, dec {e.bbox[2]:.1f}..{e.bbox[3]:.1f}"
        for name, e in {e.map: e for e in catalogue.entries}.items()
    )
    return UsageError(
        f"no cutout could be made: positions {', '.join(parts)}{example}. Maps cover {coverage}",
        parameter="POS",
    )


def run(params: CutoutParams, ctx: JobContext, *, maps_dir: Path | S3Location | None = None) -> None:
    """Cut every position in every matching map and band; store the files and the manifest.

    Raises
    ------
    UsageError
        An unknown band or map was asked for, or nothing could be cut (the
        message gives the count per status and the first position's reason).
    FatalJobError
        The map catalogue is missing, empty or out of date.
    """
    catalogue = load_catalogue(maps_dir or maps_directory(ctx.settings, ctx.service_settings))
    check_selection(params, catalogue)
    targets = params.positions()
    output = _Output(params.bundle, ctx)
    try:
        rows, aborted = cut_positions(targets, params, catalogue, ctx, output)
    except BaseException:
        output.discard()
        raise
    if aborted:
        output.discard()
        return
    if not any(r.status in SUCCESS for r in rows):
        output.discard()
        raise _nothing_cut(rows, catalogue)
    output.finish(rows, parameters=public_params(params))


def sync(params: CutoutParams, settings: Settings, service_settings: CutoutSettings | None) -> SyncResult:
    """The service's DALI sync (``/api/cutout/sync``): :func:`cut_one` with the maps of the settings."""
    return cut_one(params, maps_dir=maps_directory(settings, service_settings))


def cut_one(params: CutoutParams, *, maps_dir: Path | S3Location) -> SyncResult:
    """One position, one band, one map: the FITS (or PNG) bytes, for ``/api/cutout/sync``.

    The band defaults to 150 GHz (or the only band covering the position); when
    several maps cover it, the first covering its centre is used (``ID`` picks one).

    Raises
    ------
    UsageError
        More than one position, band or format was asked for, or no map covers the position.
    """
    targets = params.positions()
    if len(targets) != 1:
        raise UsageError(
            f"the sync endpoint cuts one position, got {len(targets)}: use /api/cutout/jobs for several",
            parameter="POS",
        )
    if len(params.band) > 1:
        raise UsageError("the sync endpoint cuts one band: give a single band", parameter="band")
    if params.format == "both":
        raise UsageError("the sync endpoint returns one file: format must be fits or png", parameter="format")
    catalogue = load_catalogue(maps_dir)
    check_selection(params, catalogue)
    target = targets[0]
    entries = catalogue.match(
        target.ra,
        target.dec,
        target.radius,
        params.band or None,
        params.map or None,
        width=target.width,
        height=target.height,
    )
    if not params.band and entries:
        bands = {e.band for e in entries}
        band = DEFAULT_SYNC_BAND if DEFAULT_SYNC_BAND in bands else entries[0].band
        entries = [e for e in entries if e.band == band]
    with MapReader() as reader:
        for entry in entries:
            try:
                cutout = make_cutout(reader, entry, target)
            except ValueError:
                continue
            if cutout is None:
                continue
            fmt = params.format
            if fmt == "fits":
                data = fits_bytes(cutout)
            else:
                data = render_png(cutout, scaling=params.scaling, colormap=params.colormap, axes=params.axes)
            return SyncResult(data=data, mime_type=MIME[fmt], filename=cutout_filename(target, entry, fmt))
    raise UsageError(
        f"position {safe_name(target.name)!r} (ra={target.ra:g}, dec={target.dec:g}) is outside every map"
        + (" of the requested band/ID" if params.band or params.map else ""),
        parameter="POS",
    )
