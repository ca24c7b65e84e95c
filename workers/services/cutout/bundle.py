"""Manifests and archives of a cutout job.

The manifest has one row per file written and one row per position (or
position x map) that produced no file, with its status:

========  ==============================================================
ok        cut fully inside the map
partial   the box crosses the map edge: the outside is NaN (``CUTPART``)
nodata    the box lies on a blank (all-NaN or all-zero) part of the map
outside   no map (of the requested bands/maps) covers the position
invalid   the position cannot be projected into the map
error     cutting failed for a reason on our side (the message says which)
========  ==============================================================

It is written as ``manifest.csv`` and ``manifest.json``; bundles hold both
next to the cutouts. Archives are written as the cutouts are produced, so a
job never holds more than one cutout in memory or writes every file twice.
"""

from __future__ import annotations

import csv
import io
import json
import tarfile
import time
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from spt_api.services import JobContext

__all__ = [
    "MANIFEST_COLUMNS",
    "SUCCESS",
    "BundleWriter",
    "ManifestRow",
    "Output",
    "manifest_csv",
    "manifest_json",
    "summarize",
]

#: Statuses that mean "a file was written".
SUCCESS = frozenset({"ok", "partial"})
#: gzip level for tar.gz: float noise barely compresses, so a higher level
#: only costs time (level 9 is ~5x slower for ~1 % smaller files).
GZIP_LEVEL = 1


@dataclass(frozen=True, slots=True)
class ManifestRow:
    """One line of the manifest."""

    name: str
    ra: float
    dec: float
    band: int | None
    map: str
    file: str
    format: str
    status: str
    message: str = ""
    pos: str = ""
    hdu: str = ""


MANIFEST_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ManifestRow))


def manifest_csv(rows: Iterable[ManifestRow]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for row in rows:
        values = asdict(row)
        writer.writerow(["" if values[c] is None else values[c] for c in MANIFEST_COLUMNS])
    return buffer.getvalue().encode()


def summarize(rows: Sequence[ManifestRow]) -> dict[str, Any]:
    """Counts per status: of files, and of positions by their best outcome."""
    best: dict[str, str] = {}
    order = ["ok", "partial", "nodata", "invalid", "error", "outside"]
    for row in rows:
        current = best.get(row.name)
        if current is None or order.index(row.status) < order.index(current):
            best[row.name] = row.status
    return {
        "positions": len(best),
        "positions_by_status": dict(Counter(best.values())),
        "files": sum(1 for r in rows if r.status in SUCCESS),
        "rows_by_status": dict(Counter(r.status for r in rows)),
    }


def manifest_json(rows: Sequence[ManifestRow], **extra: Any) -> bytes:
    document = {"columns": list(MANIFEST_COLUMNS), "summary": summarize(rows), **extra, "rows": []}
    document["rows"] = [asdict(r) for r in rows]
    return json.dumps(document, indent=1).encode()


class BundleWriter:
    """An archive (``tar.gz`` or ``zip``) filled one member at a time."""

    def __init__(self, path: Path, kind: Literal["tar.gz", "zip"], folder: str = "cutouts") -> None:
        self.path = path
        self.kind = kind
        self.folder = folder
        self.members: list[str] = []
        self._tar: tarfile.TarFile | None = None
        self._zip: zipfile.ZipFile | None = None
        if kind == "tar.gz":
            self._tar = tarfile.open(path, "w:gz", compresslevel=GZIP_LEVEL)  # noqa: SIM115 (closed by close())
        else:
            # FITS noise barely compresses either; deflate level 1 keeps zip fast.
            self._zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)

    @property
    def mime_type(self) -> str:
        return "application/gzip" if self.kind == "tar.gz" else "application/zip"

    def add(self, name: str, data: bytes) -> str:
        """Add one member under the bundle's folder; returns its path in the archive."""
        arcname = f"{self.folder}/{name}"
        if self._tar is not None:
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            info.mtime = int(time.time())
            info.mode = 0o644
            self._tar.addfile(info, io.BytesIO(data))
        elif self._zip is not None:
            stored = name.endswith(".png")  # already compressed
            self._zip.writestr(arcname, data, compress_type=zipfile.ZIP_STORED if stored else None)
        self.members.append(arcname)
        return arcname

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()
            self._tar = None
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Output:
    """Where a job's cutout files go, one result each or one archive, and the manifest that ends the job.

    Serves a job that cuts (``run``) and a fan-out parent that gathers its children's files (``merge``).
    """

    def __init__(self, bundle: Literal["none", "tar.gz", "zip"], ctx: JobContext) -> None:
        self.ctx = ctx
        self.bundle = BundleWriter(ctx.workdir / f"cutouts.{bundle}", bundle) if bundle != "none" else None
        self._used: set[str] = set()

    def unique(self, filename: str) -> str:
        """``filename``, numbered before its extension when already used (``a_150GHz-2.fits``).

        One target may hit two HDUs of the same map and band. The extension is
        after the last dot: map and position names have dots of their own.
        """
        candidate, n = filename, 2
        stem, dot, ext = filename.rpartition(".")
        if not dot:  # no extension
            stem, ext = filename, ""
        while candidate in self._used:
            candidate = f"{stem}-{n}{dot}{ext}"
            n += 1
        self._used.add(candidate)
        return candidate

    def finish(self, rows: Sequence[ManifestRow], **manifest: Any) -> None:
        """Store the manifest (CSV and JSON, ``manifest`` adding fields to the JSON) and the closed bundle."""
        csv_bytes = manifest_csv(rows)
        json_bytes = manifest_json(rows, job_id=self.ctx.job_id, **manifest)
        if self.bundle is not None:
            self.bundle.add("manifest.csv", csv_bytes)
            self.bundle.add("manifest.json", json_bytes)
            self.bundle.close()
            self.ctx.add_result(self.bundle.path.name, self.bundle.path, self.bundle.mime_type, result_id="bundle")
        for name, data, mime, result_id in (
            ("manifest.csv", csv_bytes, "text/csv", "manifest"),
            ("manifest.json", json_bytes, "application/json", "manifest-json"),
        ):
            self.ctx.add_result(name, data, mime, result_id=result_id)

    def discard(self) -> None:
        """Drop the half-written bundle (the job was aborted or failed)."""
        if self.bundle is not None:
            self.bundle.close()
            self.bundle.path.unlink(missing_ok=True)
