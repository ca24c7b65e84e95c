"""The catalogue of maps in a directory: built by opening each FITS file once, loaded from ``catalogue.json``."""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

from astropy.io import fits
from astropy.wcs import FITSFixedWarning

from spt_api.services.errors import FatalJobError
from workers.services.cutout.catalogue import (
    CATALOGUE_NAME,
    FITS_SUFFIXES,
    Catalogue,
    catalogue_document,
    check_catalogue_document,
)
from workers.services.cutout.map_entry import MapEntry, entry_for_hdu

__all__ = ["build_dir_catalogue", "load_dir_catalogue"]


def _scan_file(path: Path, root: Path) -> list[MapEntry]:
    entries: list[MapEntry] = []
    stat = path.stat()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        with fits.open(path, memmap=True, lazy_load_hdus=True) as hdul:
            primary = hdul[0].header
            for index, hdu in enumerate(hdul):
                if not isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU):
                    continue
                info = hdul.fileinfo(index) or {}
                entry = entry_for_hdu(
                    index,
                    hdu.header,
                    primary,
                    file=path.relative_to(root).as_posix(),
                    size=stat.st_size,
                    mtime=stat.st_mtime,
                    root=root,
                    header_offset=int(info.get("hdrLoc", -1)),
                    data_offset=int(info.get("datLoc", -1)),
                )
                if entry is not None:
                    entries.append(entry)
    return entries


def _fits_files(directory: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.lower().endswith(FITS_SUFFIXES) and not name.startswith("."):
                yield Path(dirpath) / name


def build_dir_catalogue(directory: Path) -> Path:
    """Index every FITS map under ``directory``; write and return ``directory/catalogue.json``.

    Files that are not readable FITS are skipped with a note in the catalogue
    (``skipped``), so one broken file does not hide the others.
    """
    directory = Path(str(directory)).resolve()
    entries: list[MapEntry] = []
    skipped: list[dict[str, str]] = []
    for path in _fits_files(directory):
        try:
            entries.extend(_scan_file(path, directory))
        except (OSError, ValueError, KeyError) as exc:
            skipped.append({"file": path.relative_to(directory).as_posix(), "reason": str(exc)})
    document = catalogue_document(entries, skipped)
    target = directory / CATALOGUE_NAME
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=1))
    tmp.replace(target)  # atomic: a worker reading the catalogue never sees half a file
    return target


_CACHE: dict[Path, tuple[float, Catalogue]] = {}
_CACHE_LOCK = threading.Lock()


def load_dir_catalogue(directory: Path, *, build_if_missing: bool = True) -> Catalogue:
    """Read ``catalogue.json`` of ``directory`` (cached per process while the file is unchanged).

    Raises
    ------
    FatalJobError
        When there is no catalogue (and ``build_if_missing`` is false), or it is unreadable.
    """
    directory = Path(str(directory)).resolve()
    path = directory / CATALOGUE_NAME
    if not path.exists():
        if not build_if_missing or not directory.is_dir():
            raise FatalJobError(f"no map catalogue at {path}: run 'spt-api maps index {directory}'")
        try:
            build_dir_catalogue(directory)
        except OSError as exc:  # a read-only maps volume
            raise FatalJobError(f"no map catalogue at {path} and none can be written there: {exc}") from exc
    mtime = path.stat().st_mtime
    with _CACHE_LOCK:
        cached = _CACHE.get(directory)
        if cached and cached[0] == mtime:
            return cached[1]
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise FatalJobError(f"unreadable map catalogue {path}: {exc}") from exc
    entries = check_catalogue_document(document, str(path))
    catalogue = Catalogue(
        directory, [MapEntry.from_json(e, directory) for e in entries], skipped=document.get("skipped") or []
    )
    with _CACHE_LOCK:
        _CACHE[directory] = (mtime, catalogue)
    return catalogue
