"""Maps in an S3 bucket: indexed from headers read by ranged GETs, cut from the rows they need.

``SPT_API_MAPS_URL=s3://bucket/prefix`` puts the maps (uncompressed ``.fits``
files, single or multi-extension) under ``prefix``; the S3 endpoint and
credentials are those of the results store (``SPT_API_S3_ENDPOINT_URL``,
``SPT_API_S3_REGION``, ``SPT_API_S3_ACCESS_KEY_ID``, ``SPT_API_S3_SECRET_ACCESS_KEY``).

Indexing (:func:`build_s3_catalogue`) never downloads a map: a FITS file is a
chain of HDUs, each a header of 2880-byte blocks up to the ``END`` card
followed by its data, whose size follows from ``BITPIX``, ``NAXISn``,
``PCOUNT`` and ``GCOUNT``. So the scan reads each header by a ranged GET (64 KiB
of read-ahead: one request per HDU for ordinary headers), skips the data, and
records for each map HDU the same catalogue entry as a directory scan, plus
the byte offsets of its header and data. ``catalogue.json`` goes under the prefix.

Cutting (:class:`S3MapReader`) reads only the rows under the cutout: pixel
``(y, x)`` of an uncompressed image is at ``data_offset + (y * NAXIS1 + x) *
itemsize``, so rows ``y0..y1`` are one contiguous byte range. One GET fetches
that band of full-width rows (a 600-px-wide float32 map: 2.4 kB a row; an
11-px stamp costs 26 kB, not the 1.4 MB map), in pieces of at most 8 MiB so a
large stamp never holds more than one piece beside the result. Only when a
row is so wide that the unneeded part of each row exceeds 256 KiB (maps wider
than ~65 000 float32 pixels) does it pay to fetch per-row spans of just the
needed columns instead, one GET per row, 8 at a time: S3 has no multi-range
GET, and below that width one request's latency costs more than the extra bytes.
The reader is an :class:`astropy.io.fits.Section` (what ``Cutout2D`` accepts in
place of an array), so astropy computes the cutout, its WCS and its padding
exactly as for a memory-mapped local file.
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any
from urllib.parse import urlparse

import numpy as np
from astropy.io import fits
from astropy.io.fits.hdu.image import Section
from astropy.wcs import FITSFixedWarning

from spt_api.services.errors import FatalJobError, TransientJobError
from workers.services.cutout.catalogue import (
    CATALOGUE_NAME,
    FITS_SUFFIXES,
    Catalogue,
    MapEntry,
    catalogue_document,
    check_catalogue_document,
    entry_for_hdu,
)

__all__ = [
    "COMPRESSED_SUFFIXES",
    "S3Location",
    "S3MapReader",
    "S3Section",
    "build_s3_catalogue",
    "load_s3_catalogue",
    "scan_fits_object",
]

BLOCK = 2880
CARD = 80
#: Bytes fetched per header request: the headers of a typical map (a few
#: blocks) come in one GET, and a small primary HDU brings the next header along.
HEADER_READAHEAD = 64 * 1024
#: A header longer than this is not a map header (nor a FITS file at all).
MAX_HEADER_BYTES = 64 * 1024 * 1024
#: Fetch per-row spans instead of full-width rows when more than this many
#: bytes of each row would be thrown away (see the module docstring).
ROW_SPAN_MIN_WASTE = 256 * 1024
#: Largest single ranged GET of full-width rows: bounds the memory of a large cutout.
BAND_CHUNK_BYTES = 8 * 1024 * 1024
#: Row bands kept by one reader for later cutouts that fall inside them.
BAND_CACHE_BYTES = 32 * 1024 * 1024
#: ... and at most this many (each lookup scans them).
BAND_CACHE_COUNT = 64
#: Concurrent GETs of per-row spans (below botocore's 10 pooled connections).
ROW_SPAN_THREADS = 8
#: A loaded catalogue is trusted this long before its ETag is checked again.
CATALOGUE_RECHECK_SECONDS = 10.0
#: Suffixes of compressed files: a ranged GET of a gzip stream cannot address a row.
COMPRESSED_SUFFIXES = (*(s + c for s in FITS_SUFFIXES for c in (".gz", ".bz2", ".xz", ".zst", ".z")), ".fz")
BITPIX_DTYPES: dict[int, np.dtype[Any]] = {
    8: np.dtype("u1"),
    16: np.dtype(">i2"),
    32: np.dtype(">i4"),
    64: np.dtype(">i8"),
    -32: np.dtype(">f4"),
    -64: np.dtype(">f8"),
}


# -- where the maps are ------------------------------------------------------------------


_CLIENTS: dict[tuple[str, str, str, str], Any] = {}
_CLIENTS_LOCK = threading.Lock()


@dataclass(frozen=True)
class S3Location:
    """An ``s3://bucket/prefix`` with the endpoint and credentials to reach it."""

    bucket: str
    prefix: str = ""
    endpoint_url: str = ""
    region: str = "us-east-1"
    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", self.prefix.strip("/"))
        if not self.bucket:
            raise ValueError("an S3 maps URL needs a bucket: s3://bucket/prefix")

    @classmethod
    def from_url(cls, url: str, settings: Any = None) -> S3Location:
        """``s3://bucket/prefix``, reached with the S3 settings of ``settings`` (default: the process's)."""
        parsed = urlparse(url)
        if parsed.scheme != "s3":
            raise ValueError(f"not an s3:// URL: {url!r}")
        if settings is None:
            from spt_api.config import get_settings

            settings = get_settings()
        return cls(
            bucket=parsed.netloc,
            prefix=parsed.path,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key.get_secret_value(),
        )

    @classmethod
    def coerce(cls, value: Any) -> S3Location:
        return value if isinstance(value, S3Location) else cls.from_url(str(value))

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def key(self, name: str) -> str:
        """The object key of ``name`` (relative to the prefix)."""
        return f"{self.prefix}/{name}" if self.prefix else name

    def url_for(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.key(name)}"

    def __str__(self) -> str:
        return self.url

    def client(self) -> Any:
        """A boto3 S3 client, built like the results store's and shared per endpoint and credentials."""
        ident = (self.endpoint_url, self.region, self.access_key_id, self.secret_access_key)
        with _CLIENTS_LOCK:
            client = _CLIENTS.get(ident)
            if client is None:
                from spt_api.storage.s3 import S3ObjectStore

                client = S3ObjectStore(
                    self.bucket,
                    endpoint_url=self.endpoint_url or None,
                    region=self.region,
                    access_key_id=self.access_key_id or None,
                    secret_access_key=self.secret_access_key or None,
                ).client
                _CLIENTS[ident] = client
        return client


def _s3_error(exc: Exception, what: str) -> Exception:
    """A job error for a failed S3 request: fatal when retrying cannot help, else transient."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if _is_missing(exc):
            return FatalJobError(f"{what}: not found")
        if code == "NoSuchBucket":
            return FatalJobError(f"{what}: no such bucket")
        if code == "InvalidRange" or status == 416:
            return FatalJobError(f"{what}: shorter than the catalogue says (changed since indexed?)")
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch") or status == 403:
            return FatalJobError(f"{what}: access denied ({code}); check the SPT_API_S3_* credentials")
        return TransientJobError(f"{what}: S3 error {code or status}: {error.get('Message', exc)}")
    return TransientJobError(f"{what}: S3 unreachable: {exc}")


def _is_missing(exc: Exception) -> bool:
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return False
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("NoSuchKey", "NotFound", "404") or status == 404


def get_range(client: Any, bucket: str, key: str, start: int, stop: int, *, size: int | None = None) -> bytes:
    """Bytes ``start..stop-1`` of an object by one ranged GET.

    ``size``: the object's size as indexed; a different total in the answer's
    ``Content-Range`` means the map was replaced (``FatalJobError``).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    what = f"s3://{bucket}/{key}"
    if stop <= start:
        return b""
    try:
        response = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{stop - 1}")
    except (BotoCoreError, ClientError) as exc:
        raise _s3_error(exc, what) from exc
    body = response["Body"]
    content_range = str(response.get("ContentRange") or "")
    if not content_range.startswith("bytes "):
        body.close()  # never read a whole map because a server ignored the Range header
        raise FatalJobError(f"{what}: the S3 server ignored a ranged GET (no Content-Range)")
    total = content_range.rpartition("/")[2]
    if size is not None and total.isdigit() and int(total) != size:
        body.close()
        raise FatalJobError(
            f"map {what} changed since it was indexed ({total} bytes, not {size}): rebuild the catalogue"
        )
    try:
        data: bytes = body.read()
    except (BotoCoreError, OSError) as exc:
        raise _s3_error(exc, what) from exc
    if len(data) != stop - start:
        raise FatalJobError(f"{what}: got {len(data)} bytes at {start}, expected {stop - start} (truncated map?)")
    return data


# -- reading FITS structure by ranged GETs ------------------------------------------------


class _RangedObject:
    """Reads an object by ranged GETs with read-ahead (for headers)."""

    def __init__(self, client: Any, bucket: str, key: str, size: int, readahead: int = HEADER_READAHEAD) -> None:
        self.client, self.bucket, self.key, self.size = client, bucket, key, size
        self.readahead = readahead
        self._start = 0
        self._buffer = b""
        self.requests = 0

    def read(self, offset: int, length: int) -> bytes:
        end = offset + length
        if end > self.size:
            raise ValueError(f"truncated FITS file: {self.size} bytes, needs {end}")
        if not (self._start <= offset and end <= self._start + len(self._buffer)):
            stop = min(self.size, offset + max(length, self.readahead))
            self._buffer = get_range(self.client, self.bucket, self.key, offset, stop, size=self.size)
            self._start = offset
            self.requests += 1
        return self._buffer[offset - self._start : end - self._start]


def _read_header(source: _RangedObject, offset: int) -> tuple[fits.Header, int]:
    """The header starting at ``offset`` and the offset of its data (just after the END block)."""
    blocks: list[bytes] = []
    position = offset
    while True:
        if position - offset >= MAX_HEADER_BYTES:
            raise ValueError(f"no END card in the header at byte {offset}")
        block = source.read(position, BLOCK)
        blocks.append(block)
        position += BLOCK
        if any(block[i : i + 3] == b"END" and not block[i + 3 : i + CARD].strip() for i in range(0, BLOCK, CARD)):
            break
    try:
        text = b"".join(blocks).decode("ascii")
    except UnicodeDecodeError as exc:
        raise ValueError(f"the header at byte {offset} is not ASCII: not a FITS file?") from exc
    return fits.Header.fromstring(text), position


def _data_size(header: fits.Header, primary: bool) -> int:
    """Bytes of an HDU's data, unpadded (FITS standard 4.4.1.1)."""
    naxis = int(header.get("NAXIS", 0))
    if naxis == 0:
        return 0
    dims = [int(header.get(f"NAXIS{i}", 0)) for i in range(1, naxis + 1)]
    if primary and header.get("GROUPS") is True and dims[0] == 0:
        dims = dims[1:]  # random groups
    count = int(np.prod(dims, dtype=np.int64))
    gcount, pcount = int(header.get("GCOUNT", 1)), int(header.get("PCOUNT", 0))
    return abs(int(header["BITPIX"])) // 8 * gcount * (pcount + count)


def scan_fits_object(
    location: S3Location, file: str, size: int, mtime: float
) -> tuple[list[MapEntry], list[dict[str, str]], int]:
    """The map entries of one FITS object, the HDUs refused (with why), and the GETs it took."""
    source = _RangedObject(location.client(), location.bucket, location.key(file), size)
    entries: list[MapEntry] = []
    refused: list[dict[str, str]] = []
    offset, index = 0, 0
    primary: fits.Header | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        while offset + BLOCK <= size:
            if index == 0:
                if source.read(0, 9) != b"SIMPLE  =":
                    raise ValueError("not a FITS file (no SIMPLE card)")
            elif source.read(offset, 9) != b"XTENSION=":
                break  # trailing padding after the last HDU, as astropy tolerates
            header, data_offset = _read_header(source, offset)
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
            datasize = _data_size(header, primary=index == 0)
            offset = data_offset + -(-datasize // BLOCK) * BLOCK
            index += 1
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
        raise _s3_error(exc, f"listing {location.url}") from exc


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
        raise _s3_error(exc, f"writing {location.url_for(CATALOGUE_NAME)}") from exc
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
        if not _is_missing(exc):
            raise _s3_error(exc, url) from exc
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
        raise _s3_error(exc, url) from exc
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


# -- cutting ------------------------------------------------------------------------------


_HEADERS: OrderedDict[tuple[str, int, int, int], fits.Header] = OrderedDict()
_HEADERS_LOCK = threading.Lock()
_HEADERS_MAX = 256


class S3Section(Section):  # type: ignore[misc]
    """A 2-D image HDU on S3, sliced like ``ImageHDU.section``: a slice costs a ranged GET of its rows.

    ``Cutout2D`` accepts a :class:`~astropy.io.fits.Section` in place of the
    data array, so the local and the S3 cutouts run through the same astropy code.
    Slices come back raw (big-endian, unscaled), as a memory-mapped file opened
    with ``do_not_scale_image_data`` gives them.
    """

    def __init__(self, reader: S3MapReader, entry: MapEntry, dtype: np.dtype[Any]) -> None:
        self.hdu = None
        self.reader = reader
        self.entry = entry
        self._dtype = dtype

    @property
    def shape(self) -> tuple[int, int]:
        return self.entry.shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._dtype

    @property
    def ndim(self) -> int:
        return 2

    def __getitem__(self, key: Any) -> Any:
        if not isinstance(key, tuple):
            key = (key,)
        if Ellipsis in key:
            at = key.index(Ellipsis)
            key = key[:at] + (slice(None),) * (3 - len(key)) + key[at + 1 :]
        if len(key) > 2:
            raise IndexError("too many indices for a 2-D map")
        key = key + (slice(None),) * (2 - len(key))
        spans: list[tuple[int, int]] = []
        picks: list[Any] = []
        shape: list[int] = []
        for k, n in zip(key, self.shape, strict=True):
            if isinstance(k, int | np.integer):
                i = int(k) + (n if k < 0 else 0)
                if not 0 <= i < n:
                    raise IndexError(f"index {k} is out of bounds for an axis of size {n}")
                spans.append((i, i + 1))
                picks.append(0)
            elif isinstance(k, slice):
                indices = range(*k.indices(n))
                shape.append(len(indices))
                if not indices:
                    spans.append((0, 0))
                    picks.append(slice(None))
                    continue
                lo, hi = min(indices[0], indices[-1]), max(indices[0], indices[-1]) + 1
                spans.append((lo, hi))
                picks.append(slice(None) if indices.step == 1 else np.asarray(indices) - lo)
            else:
                raise IndexError(f"unsupported index for a map on S3: {k!r}")
        if any(lo == hi for lo, hi in spans):
            return np.empty(shape, dtype=self._dtype)
        (r0, r1), (c0, c1) = spans
        block: Any = self.reader.read(self.entry, self._dtype, r0, r1, c0, c1)
        for axis in (1, 0):
            if not (isinstance(picks[axis], slice) and picks[axis] == slice(None)):
                block = block.take(picks[axis], axis=axis)
        return block


class S3MapReader:
    """Reads cutouts of map HDUs on S3 by ranged GETs; one per job (``MapReader`` makes it on demand).

    Attributes ``requests`` and ``bytes_read`` count the data GETs (headers included).
    """

    def __init__(self, cache_bytes: int = BAND_CACHE_BYTES) -> None:
        self.cache_bytes = cache_bytes
        self._bands: OrderedDict[tuple[str, int, int], np.ndarray] = OrderedDict()
        self._cached = 0
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.requests = 0
        self.bytes_read = 0

    def __enter__(self) -> S3MapReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._bands.clear()
        self._cached = 0
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _get(self, entry: MapEntry, start: int, stop: int) -> bytes:
        assert entry.store is not None
        data = get_range(
            entry.store.client(), entry.store.bucket, entry.store.key(entry.file), start, stop, size=entry.size
        )
        with self._lock:
            self.requests += 1
            self.bytes_read += len(data)
        return data

    def header(self, entry: MapEntry) -> fits.Header:
        """The HDU's header (one ranged GET, cached per process)."""
        if entry.store is None:
            raise FatalJobError(f"{entry.key} is not a map on S3")
        if entry.header_offset < 0 or entry.data_offset <= entry.header_offset:
            raise FatalJobError(
                f"the map catalogue of {entry.store.url} has no byte offsets for {entry.key}: "
                f"rebuild it with 'spt-api maps index {entry.store.url}'"
            )
        ident = (entry.location, entry.hdu, entry.size, entry.header_offset)
        with _HEADERS_LOCK:
            header = _HEADERS.get(ident)
            if header is not None:
                _HEADERS.move_to_end(ident)
                return header
        raw = self._get(entry, entry.header_offset, entry.data_offset)
        try:
            header = fits.Header.fromstring(raw.decode("ascii"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise FatalJobError(f"map {entry.location} changed since it was indexed: rebuild the catalogue") from exc
        naxis = (int(header.get("NAXIS2", 0)), int(header.get("NAXIS1", 0)))
        xtension = str(header.get("XTENSION", "IMAGE")).strip().upper()
        if naxis != entry.shape or xtension != "IMAGE" or int(header.get("BITPIX", 0)) not in BITPIX_DTYPES:
            raise FatalJobError(f"map {entry.location} changed since it was indexed: rebuild the catalogue")
        with _HEADERS_LOCK:
            _HEADERS[ident] = header
            while len(_HEADERS) > _HEADERS_MAX:
                _HEADERS.popitem(last=False)
        return header

    def hdu(self, entry: MapEntry) -> tuple[S3Section, fits.Header]:
        """A lazily read view of the entry's image and its header (what ``MapReader.hdu`` returns)."""
        header = self.header(entry)
        return S3Section(self, entry, BITPIX_DTYPES[int(header["BITPIX"])]), header

    def _cached_band(self, entry: MapEntry, row: int) -> tuple[int, np.ndarray] | None:
        for (location, hdu, first), band in self._bands.items():
            if location == entry.location and hdu == entry.hdu and first <= row < first + band.shape[0]:
                self._bands.move_to_end((location, hdu, first))
                return first, band
        return None

    def _remember(self, entry: MapEntry, first: int, band: np.ndarray) -> None:
        if band.nbytes > self.cache_bytes // 4:
            return
        self._bands[(entry.location, entry.hdu, first)] = band
        self._cached += band.nbytes
        while self._cached > self.cache_bytes or len(self._bands) > BAND_CACHE_COUNT:
            _, old = self._bands.popitem(last=False)
            self._cached -= old.nbytes

    def read(self, entry: MapEntry, dtype: np.dtype[Any], r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Pixels ``[r0:r1, c0:c1]`` (raw, big-endian), fetched by ranged GETs of their rows."""
        width = entry.shape[1]
        itemsize = dtype.itemsize
        row_bytes = width * itemsize
        out = np.empty((r1 - r0, c1 - c0), dtype=dtype)
        if (width - (c1 - c0)) * itemsize > ROW_SPAN_MIN_WASTE:
            # Very wide rows: only the needed columns of each row, GETs in parallel.
            def span(row: int) -> bytes:
                start = entry.data_offset + row * row_bytes + c0 * itemsize
                return self._get(entry, start, start + (c1 - c0) * itemsize)

            if self._pool is None:
                self._pool = ThreadPoolExecutor(ROW_SPAN_THREADS, thread_name_prefix="s3-map-rows")
            for i, data in enumerate(self._pool.map(span, range(r0, r1))):
                out[i] = np.frombuffer(data, dtype=dtype)
            return out
        chunk_rows = max(1, BAND_CHUNK_BYTES // row_bytes)
        row = r0
        while row < r1:
            found = self._cached_band(entry, row)
            if found is None:
                stop = min(r1, row + chunk_rows)
                data = self._get(entry, entry.data_offset + row * row_bytes, entry.data_offset + stop * row_bytes)
                found = (row, np.frombuffer(data, dtype=dtype).reshape(stop - row, width))
                self._remember(entry, *found)
            first, band = found
            stop = min(r1, first + band.shape[0])
            out[row - r0 : stop - r0] = band[row - first : stop - first, c0:c1]
            row = stop
        return out


# -- putting maps there -------------------------------------------------------------------


def catalogue_exists(location: S3Location) -> bool:
    """Whether ``catalogue.json`` exists under ``location``."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        location.client().head_object(Bucket=location.bucket, Key=location.key(CATALOGUE_NAME))
    except (BotoCoreError, ClientError) as exc:
        if _is_missing(exc):
            return False
        raise _s3_error(exc, location.url_for(CATALOGUE_NAME)) from exc
    return True


def upload_maps(location: S3Location, directory: Path) -> list[str]:
    """Upload the FITS files (and ``sources.json`` of demo maps) of ``directory`` under ``location``.

    Returns the object keys written. The catalogue is not built: call
    :func:`build_s3_catalogue` afterwards.
    """
    client = location.client()
    keys: list[str] = []
    for path in sorted(Path(directory).rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if not path.is_file() or any(part.startswith(".") for part in relative.split("/")):
            continue
        if not (path.name.lower().endswith(FITS_SUFFIXES) or path.name == "sources.json"):
            continue
        key = location.key(relative)
        client.upload_file(str(path), location.bucket, key)
        keys.append(key)
    return keys
