"""The cutout service's ``/health`` hook: can it find its map catalogue? (Light: no astropy, no numpy.)

The API process calls it on every readiness probe, so it only looks: a file's existence on disk, or
an object's in S3 through the service's shared S3 client. It reports what would make every cutout fail
(the same words as the job's error summary where it can); a catalogue that a job would build on its
first run (a writable directory, an S3 prefix with maps in it) is not a problem.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from workers.services.cutout.s3_location import S3Location
from workers.services.cutout.settings import CutoutSettings, maps_url

__all__ = ["health"]

#: The catalogue's file name: ``catalogue.CATALOGUE_NAME``, not imported, as that module loads astropy.
CATALOGUE_NAME = "catalogue.json"


def health(settings: Any, service_settings: CutoutSettings | None) -> list[str]:
    """What keeps the cutout service from cutting under ``settings``: ``[]`` when its catalogue is there."""
    url = maps_url(settings, service_settings)
    if url.startswith("s3://"):
        return _s3_problems(url, settings)
    directory = Path(unquote(urlparse(url).path) if url.startswith("file://") else url).resolve()
    return _local_problems(directory)


def _local_problems(directory: Path) -> list[str]:
    path = directory / CATALOGUE_NAME
    if path.is_file():
        return []
    if not directory.is_dir():
        # The words of catalogue.load_catalogue, so /health and the failed job say the same thing.
        return [f"no map catalogue at {path}: run 'spt-api maps index {directory}'"]
    if not os.access(directory, os.W_OK):
        return [f"no map catalogue at {path} and none can be written there: the directory is read-only"]
    return []


def _s3_problems(url: str, settings: Any) -> list[str]:
    from botocore.exceptions import ClientError

    location = S3Location.from_url(url, settings)
    client = location.client()  # shared with the service's own reads, per endpoint and credentials
    try:
        try:
            client.head_object(Bucket=location.bucket, Key=location.key(CATALOGUE_NAME))
            return []
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
        # No catalogue: a job builds one from the maps under the prefix, if there are any.
        prefix = f"{location.prefix}/" if location.prefix else ""  # "maps/", so that "maps2/" is not counted
        listed = client.list_objects_v2(Bucket=location.bucket, Prefix=prefix, MaxKeys=1)
    except Exception as exc:  # unreachable, refused, no such bucket: all mean no cutouts
        return [f"cannot read the maps at {location.url}: {type(exc).__name__}: {exc}"[:300]]
    if not listed.get("Contents"):
        return [f"no map catalogue at {location.url_for(CATALOGUE_NAME)}: run 'spt-api maps index {location.url}'"]
    return []
