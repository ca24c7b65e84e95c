"""The cutout service's ``/health`` hook: can it find its map catalogue? (Light: no astropy, no numpy.)

The API process calls it on every readiness probe, so it only looks: a file's existence on disk, or
an object's in S3 through the result store's client. It reports what would make every cutout fail
(the same words as the job's error summary where it can); a catalogue that a job would build on its
first run (a writable directory, an S3 prefix with maps in it) is not a problem.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

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
    parsed = urlparse(url)
    store = _maps_store(
        parsed.netloc,
        parsed.path,
        settings.s3_endpoint_url,
        settings.s3_region,
        settings.s3_access_key_id,
        settings.s3_secret_access_key.get_secret_value(),
    )
    catalogue = f"{url.rstrip('/')}/{CATALOGUE_NAME}"
    try:
        if store.exists(CATALOGUE_NAME):
            return []
        prefix = f"{store.prefix}/" if store.prefix else ""  # "maps/", so that "maps2/" is not counted
        listed = store.client.list_objects_v2(Bucket=store.bucket, Prefix=prefix, MaxKeys=1)
    except Exception as exc:  # unreachable, refused, no such bucket: all mean no cutouts
        return [f"cannot read the maps at {url}: {type(exc).__name__}: {exc}"[:300]]
    if not listed.get("Contents"):
        return [f"no map catalogue at {catalogue}: run 'spt-api maps index {url}'"]
    return []


@lru_cache(maxsize=4)
def _maps_store(
    bucket: str, prefix: str, endpoint_url: str, region: str, access_key_id: str, secret_access_key: str
) -> Any:
    """One client per maps location, kept: a probe every few seconds should not build a boto3 client each."""
    from spt_api.storage.s3 import S3ObjectStore

    return S3ObjectStore(
        bucket,
        prefix,
        endpoint_url=endpoint_url or None,
        region=region,
        access_key_id=access_key_id or None,
        secret_access_key=secret_access_key or None,
    )
