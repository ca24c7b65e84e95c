"""Where maps on S3 are: an ``s3://bucket/prefix`` with the endpoint and credentials to reach it.

``SPT_API_MAPS_URL=s3://bucket/prefix`` puts the maps under ``prefix``; the S3
endpoint and credentials are those of the results store (``SPT_API_S3_ENDPOINT_URL``,
``SPT_API_S3_REGION``, ``SPT_API_S3_ACCESS_KEY_ID``, ``SPT_API_S3_SECRET_ACCESS_KEY``).
Light: boto3 is imported when a client is first asked for.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

__all__ = ["S3Location", "is_s3"]

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
    def from_url(cls, url: str, settings: Any) -> S3Location:
        """``s3://bucket/prefix``, reached with the S3 settings (endpoint, credentials) of the core ``settings``."""
        parsed = urlparse(url)
        if parsed.scheme != "s3":
            raise ValueError(f"not an s3:// URL: {url!r}")
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
        if isinstance(value, S3Location):
            return value
        # No process-wide settings to fall back on: the endpoint and credentials come from the caller's.
        raise TypeError(f"{value!r}: pass an S3Location (S3Location.from_url(url, settings)), not a bare URL")

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


def is_s3(location: object) -> bool:
    """Whether ``location`` (a path, a URL or an :class:`S3Location`) names maps on S3."""
    return isinstance(location, S3Location) or (isinstance(location, str) and location.startswith("s3://"))
