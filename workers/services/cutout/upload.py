"""Putting maps on S3: upload a directory of FITS maps (and the demo's ``sources.json``) under a prefix."""

from __future__ import annotations

from pathlib import Path

from workers.services.cutout.catalogue import FITS_SUFFIXES
from workers.services.cutout.s3_location import S3Location

__all__ = ["upload_maps"]


def upload_maps(location: S3Location, directory: Path) -> list[str]:
    """Upload the FITS files (and ``sources.json`` of demo maps) of ``directory`` under ``location``.

    Returns the object keys written. The catalogue is not built: call
    :func:`workers.services.cutout.s3_catalogue.build_s3_catalogue` afterwards.
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
