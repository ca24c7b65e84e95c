"""Ranged GETs: bytes of an S3 object by offset, checked against the size the catalogue recorded."""

from __future__ import annotations

from typing import Any

from spt_api.services.errors import FatalJobError
from workers.services.cutout.s3_errors import s3_error

__all__ = ["HEADER_READAHEAD", "RangedObject", "get_range"]

#: Bytes fetched per header request: the headers of a typical map (a few
#: blocks) come in one GET, and a small primary HDU brings the next header along.
HEADER_READAHEAD = 64 * 1024


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
        raise s3_error(exc, what) from exc
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
        raise s3_error(exc, what) from exc
    if len(data) != stop - start:
        raise FatalJobError(f"{what}: got {len(data)} bytes at {start}, expected {stop - start} (truncated map?)")
    return data


class RangedObject:
    """Reads an object by ranged GETs with read-ahead (for headers); ``requests`` counts the GETs."""

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
