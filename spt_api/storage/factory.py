"""Pick the object store from the settings (``SPT_API_STORAGE_URL``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from spt_api.config import Settings
from spt_api.storage.base import ObjectStore

if TYPE_CHECKING:
    from spt_api.storage.s3 import S3ObjectStore

__all__ = ["create_object_store", "s3_object_store"]


def s3_object_store(settings: Settings, bucket: str, prefix: str = "", **options: Any) -> S3ObjectStore:
    """An S3 store of ``bucket`` under ``prefix``, reached with the configured endpoint and credentials."""
    from spt_api.storage.s3 import S3ObjectStore

    return S3ObjectStore(
        bucket,
        prefix,
        endpoint_url=settings.s3_endpoint_url or None,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id or None,
        secret_access_key=settings.s3_secret_access_key.get_secret_value() or None,
        **options,
    )


def create_object_store(settings: Settings) -> ObjectStore:
    url = settings.effective_storage_url
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        return s3_object_store(
            settings, parsed.netloc, parsed.path, multipart_threshold=settings.s3_multipart_threshold_mb * 1024 * 1024
        )
    if parsed.scheme in ("file", ""):
        from spt_api.storage.local import LocalObjectStore

        return LocalObjectStore(Path(unquote(parsed.path) if parsed.scheme else url))
    raise ValueError(f"unsupported SPT_API_STORAGE_URL scheme: {parsed.scheme!r}")
