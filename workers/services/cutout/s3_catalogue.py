"""The catalogue of maps under an S3 prefix: built from headers read by ranged GETs, loaded and cached by ETag.

Indexing (:func:`build_s3_catalogue`) never downloads a map: it walks each FITS
object's HDUs (``fits_headers``) by ranged GETs (64 KiB of read-ahead: one
request per HDU for ordinary headers), skips the data, and records for each map
HDU the same catalogue entry as a directory scan, plus the byte offsets of its
header and data. ``catalogue.json`` goes under the prefix.
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

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
from workers.services.cutout.fits_headers import BITPIX_DTYPES, walk_hdus
from workers.services.cutout.map_entry import MapEntry, entry_for_hdu
from workers.services.cutout.s3_errors import is_missing, s3_error
from workers.services.cutout.s3_location import S3Location
from workers.services.cutout.s3_ranges import RangedObject

__all__ = [
    "COMPRESSED_SUFFIXES",
    "build_s3_catalogue",
    "catalogue_exists",
    "load_s3_catalogue",
    "scan_fits_object",
]

#: A loaded catalogue is trusted this long before its ETag is checked again.
CATALOGUE_RECHECK_SECONDS = 10.0
#: Suffixes of compressed files: a ranged GET of a gzip stream cannot address a row.
COMPRESSED_SUFFIXES = (*(s + c for s in FITS_SUFFIXES for c in (".gz", ".bz2", ".xz", ".zst", ".z")), ".fz")


def scan_fits_object(
    location: S3Location, file: str, size: int, mtime: float
) -> tuple[list[MapEntry], list[dict[str, str]], int]:
    """The map entries of one FITS object, the HDUs refused (with why), and the GETs it took."""
    source = RangedObject(location.client(), location.bucket, location.key(file), size)
    entries: list[MapEntry] = []
    refused: list[dict[str, str]] = []
    primary: fits.Header | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        for index, header, offset, data_offset in walk_hdus(source, size):
            primary = header if primary is None else primary
            xtension = str(header.get("XTENSION", "")).strip().upper()
            if xtension == "BINTABLE" and header.get("ZIMAGE") is True:
                refused.append(
                    {
                        "file": f"{file}[{index}]",
                        "reason": "tile-compressed image HDU (ZIMAGE = T): maps on S3 are read by ranged "
                        "requests and must be uncompressed images; rewrite it as an ImageHDU or serve it "
                        "from a directory",
                    }
                )
            elif (index == 0 and not header.get("GROUPS")) or xtension == "IMAGE":
                if int(header.get("BITPIX", 0)) not in BITPIX_DTYPES:
                    raise ValueError(f"HDU {index}: BITPIX = {header.get('BITPIX')!r} is not a FITS image type")
                entry = entry_for_hdu(
                    index,
                    header,
                    primary,
                    file=file,
                    size=size,
                    mtime=mtime,
                    root=Path("."),
                    header_offset=offset,
                    data_offset=data_offset,
                    store=location,
                )
                if entry is not None:
                    entries.append(entry)
    return entries, refused, source.requests


def _walk_order(file: str) -> tuple[tuple[int, str], ...]:
    """Sort key listing files like ``os.walk`` with sorted names: a directory's files before its subdirectories."""
    parts = file.split("/")
    return (*((1, p) for p in parts[:-1]), (0, parts[-1]))


def _list_objects(location: S3Location) -> Iterator[tuple[str, int, float]]:
    from botocore.exceptions import BotoCoreError, ClientError

    client = location.client()
    prefix = f"{location.prefix}/" if location.prefix else ""
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield obj["Key"][len(prefix) :], int(obj["Size"]), obj["LastModified"].timestamp()
    except (BotoCoreError, ClientError) as exc:
        raise s3_error(exc, f"listing {location.url}") from exc


def build_s3_catalogue(location: S3Location) -> str:
    """Index every uncompressed FITS map under ``location``; write ``catalogue.json`` there; return its URL.

    Compressed files (``.fits.gz``, ``.fz``, ...) and tile-compressed HDUs are
    refused: they are listed under ``skipped`` with the reason, as are files
    that are not readable FITS.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    entries: list[MapEntry] = []
    skipped: list[dict[str, str]] = []
    objects = sorted(_list_objects(location), key=lambda item: _walk_order(item[0]))
    for file, size, mtime in objects:
        name = PurePosixPath(file).name.lower()
        if not file or any(part.startswith(".") for part in file.split("/")):
            continue
        if name.endswith(COMPRESSED_SUFFIXES):
            skipped.append(
                {
                    "file": file,
                    "reason": "compressed FITS: maps on S3 are read by ranged requests, which need "
                    "uncompressed files; store it as a plain .fits (or serve it from a directory)",
                }
            )
            continue
        if not name.endswith(FITS_SUFFIXES):
            continue
        try:
            found, refused, _ = scan_fits_object(location, file, size, mtime)
        except (ValueError, KeyError) as exc:
            skipped.append({"file": file, "reason": str(exc)})
            continue
        except FatalJobError as exc:  # vanished or unreadable between listing and reading
            skipped.append({"file": file, "reason": str(exc)})
            continue
        entries.extend(found)
        skipped.extend(refused)
    body = json.dumps(catalogue_document(entries, skipped), indent=1).encode()
    try:
        location.client().put_object(
            Bucket=location.bucket, Key=location.key(CATALOGUE_NAME), Body=body, ContentType="application/json"
        )
    except (BotoCoreError, ClientError) as exc:
        raise s3_error(exc, f"writing {location.url_for(CATALOGUE_NAME)}") from exc
    with _CATALOGUES_LOCK:
        _CATALOGUES.pop(location, None)
    return location.url_for(CATALOGUE_NAME)


_CATALOGUES: dict[S3Location, tuple[str, float, Catalogue]] = {}
_CATALOGUES_LOCK = threading.Lock()


def load_s3_catalogue(location: S3Location, *, build_if_missing: bool = True) -> Catalogue:
    """Read ``catalogue.json`` under ``location`` (cached per process; its ETag is checked every 10 s).

    Raises
    ------
    FatalJobError
        No catalogue (and ``build_if_missing`` is false, or it cannot be written), or an unreadable one.
    TransientJobError
        S3 did not answer.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    now = time.monotonic()
    with _CATALOGUES_LOCK:
        cached = _CATALOGUES.get(location)
    if cached and now - cached[1] < CATALOGUE_RECHECK_SECONDS:
        return cached[2]
    client = location.client()
    key, url = location.key(CATALOGUE_NAME), location.url_for(CATALOGUE_NAME)
    try:
        etag = str(client.head_object(Bucket=location.bucket, Key=key).get("ETag", ""))
    except (BotoCoreError, ClientError) as exc:
        if not is_missing(exc):
            raise s3_error(exc, url) from exc
        if not build_if_missing:
            raise FatalJobError(f"no map catalogue at {url}: run 'spt-api maps index {location.url}'") from exc
        try:
            build_s3_catalogue(location)
        except FatalJobError as error:
            raise FatalJobError(f"no map catalogue at {url} and none can be written there: {error}") from error
        return load_s3_catalogue(location, build_if_missing=False)
    if cached and cached[0] == etag:
        with _CATALOGUES_LOCK:
            _CATALOGUES[location] = (etag, now, cached[2])
        return cached[2]
    try:
        response = client.get_object(Bucket=location.bucket, Key=key)
        text = response["Body"].read()
    except (BotoCoreError, ClientError) as exc:
        raise s3_error(exc, url) from exc
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise FatalJobError(f"unreadable map catalogue {url}: {exc}") from exc
    entries = check_catalogue_document(document, url)
    catalogue = Catalogue(
        location,
        [MapEntry.from_json(e, Path("."), store=location) for e in entries],
        skipped=document.get("skipped") or [],
    )
    with _CATALOGUES_LOCK:
        _CATALOGUES[location] = (str(response.get("ETag", etag)), now, catalogue)
    return catalogue


def catalogue_exists(location: S3Location) -> bool:
    """Whether ``catalogue.json`` exists under ``location``."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        location.client().head_object(Bucket=location.bucket, Key=location.key(CATALOGUE_NAME))
    except (BotoCoreError, ClientError) as exc:
        if is_missing(exc):
            return False
        raise s3_error(exc, location.url_for(CATALOGUE_NAME)) from exc
    return True
