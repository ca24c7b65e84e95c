"""Where the maps are, a directory or an S3 prefix: building and loading its catalogue either way.

``build_catalogue`` and ``load_catalogue`` take a path, an ``s3://bucket/prefix``
URL or an :class:`~workers.services.cutout.s3_location.S3Location`, and hand
over to ``dir_catalogue`` or ``s3_catalogue``; the rest of the service never
asks which.
"""

from __future__ import annotations

from pathlib import Path

from workers.services.cutout.catalogue import Catalogue
from workers.services.cutout.dir_catalogue import build_dir_catalogue, load_dir_catalogue
from workers.services.cutout.s3_catalogue import build_s3_catalogue, load_s3_catalogue
from workers.services.cutout.s3_location import S3Location, is_s3

__all__ = ["build_catalogue", "is_s3", "load_catalogue"]


def build_catalogue(directory: Path | str | S3Location) -> Path | str:
    """Index every FITS map under ``directory``; write and return ``directory/catalogue.json``.

    Files that are not readable FITS are skipped with a note in the catalogue
    (``skipped``), so one broken file does not hide the others. ``directory``
    may be an ``s3://bucket/prefix`` URL or an :class:`S3Location`: the headers
    are then read by ranged requests and the catalogue is written under the
    prefix; the ``s3://`` URL of ``catalogue.json`` is returned.
    """
    if is_s3(directory):
        return build_s3_catalogue(S3Location.coerce(directory))
    return build_dir_catalogue(Path(str(directory)))


def load_catalogue(directory: Path | str | S3Location, *, build_if_missing: bool = True) -> Catalogue:
    """Read ``catalogue.json`` of ``directory`` (cached per process while it is unchanged).

    ``directory`` may be an ``s3://`` URL or an :class:`S3Location` (see
    :func:`workers.services.cutout.s3_catalogue.load_s3_catalogue`).

    Raises
    ------
    FatalJobError
        When there is no catalogue (and ``build_if_missing`` is false), or it is unreadable.
    """
    if is_s3(directory):
        return load_s3_catalogue(S3Location.coerce(directory), build_if_missing=build_if_missing)
    return load_dir_catalogue(Path(str(directory)), build_if_missing=build_if_missing)
