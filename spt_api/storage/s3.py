"""Results in an S3-compatible bucket (MinIO, SeaweedFS, Ceph, AWS), served by presigned URLs."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from spt_api.storage.base import ObjectStore

__all__ = ["S3ObjectStore", "S3RangeReader"]

#: Bytes fetched per ranged GET when an object is read as a file: a header check costs one request.
READ_BUFFER = 1 << 20

# Fail fast: a request that needs S3 while it is down should get a 503 in seconds, not hang.
_CLIENT_CONFIG = Config(
    connect_timeout=3, read_timeout=30, retries={"max_attempts": 2, "mode": "standard"}, signature_version="s3v4"
)

#: The error codes of a missing object: a HEAD gets a bare 404 (no body to name it), a GET or a copy
#: ``NoSuchKey``, and some servers say ``NotFound``.
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


def _error_code(exc: Any) -> str | None:
    """The S3 error code of a botocore ``ClientError``."""
    code: str | None = exc.response.get("Error", {}).get("Code")
    return code


class S3ObjectStore(ObjectStore):
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        multipart_threshold: int = 16 * 1024 * 1024,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=_CLIENT_CONFIG,
        )
        self.transfer = TransferConfig(multipart_threshold=multipart_threshold, multipart_chunksize=8 << 20)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_bytes(self, key: str, data: bytes, mime_type: str | None = None) -> int:
        # The same transfer as a file's: above the multipart threshold a large result (a bundle kept in
        # memory, a big manifest) goes up in parts, each retried on its own, not as one long PUT.
        extra = {"ContentType": mime_type} if mime_type else {}
        if len(data) < self.transfer.multipart_threshold:
            # One PUT: the transfer manager (a thread pool per call) cost milliseconds on every small result.
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **extra)
            return len(data)
        self.client.upload_fileobj(
            io.BytesIO(data), self.bucket, self._key(key), ExtraArgs=extra, Config=self.transfer
        )
        return len(data)

    def put_file(self, key: str, path: Path, mime_type: str | None = None) -> int:
        extra = {"ContentType": mime_type} if mime_type else {}
        self.client.upload_file(str(path), self.bucket, self._key(key), ExtraArgs=extra, Config=self.transfer)
        return path.stat().st_size

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.ClientError as exc:
            if _error_code(exc) in _MISSING:
                return False
            raise
        return True

    def read_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except self.client.exceptions.NoSuchKey as exc:
            raise FileNotFoundError(key) from exc
        yield from body.iter_chunks(chunk_size)

    def read_head(self, key: str, n: int) -> bytes:
        # One ranged GET: open_read would first ask the size (a HEAD), then read (a GET).
        if n <= 0:
            self._head(key)  # FileNotFoundError when missing
            return b""
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key), Range=f"bytes=0-{n - 1}")["Body"]
        except self.client.exceptions.ClientError as exc:
            code = _error_code(exc)
            if code in _MISSING:
                raise FileNotFoundError(key) from exc
            if code in ("416", "InvalidRange"):  # an empty object: no byte 0 to start from
                return b""
            raise
        data: bytes = body.read()
        return data

    def _head(self, key: str) -> dict[str, Any]:
        try:
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.ClientError as exc:
            if _error_code(exc) in _MISSING:
                raise FileNotFoundError(key) from exc
            raise
        return head

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def open_read(self, key: str) -> IO[bytes]:
        reader = S3RangeReader(self.client, self.bucket, self._key(key), self.size(key))
        return io.BufferedReader(reader, buffer_size=READ_BUFFER)

    def delete_prefix(self, prefix: str) -> int:
        count = 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            objects = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if objects:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
                count += len(objects)
        return count

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        strip = len(self._key(""))
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            keys.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        return sorted(keys)

    def signed_url(self, key: str, lifetime: int, filename: str | None = None) -> str | None:
        params: dict[str, str] = {"Bucket": self.bucket, "Key": self._key(key)}
        if filename:
            params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
        url: str = self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=lifetime)
        return url

    def check(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)

    def copy(self, source: str, key: str) -> None:
        # Server-side: the bytes stay in S3 (a multipart copy above the threshold, for objects over 5 GB).
        try:
            self.client.copy(
                {"Bucket": self.bucket, "Key": self._key(source)}, self.bucket, self._key(key), Config=self.transfer
            )
        except self.client.exceptions.ClientError as exc:
            if _error_code(exc) in _MISSING:
                raise FileNotFoundError(source) from exc
            raise


class S3RangeReader(io.RawIOBase):
    """An S3 object as a seekable raw file: each read is one ranged GET (wrap it in a BufferedReader)."""

    def __init__(self, client: Any, bucket: str, key: str, size: int) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.length = size
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.length}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self.position >= self.length or not len(view):
            return 0
        end = min(self.position + len(view), self.length) - 1
        body = self.client.get_object(Bucket=self.bucket, Key=self.key, Range=f"bytes={self.position}-{end}")["Body"]
        data = body.read()
        view[: len(data)] = data
        self.position += len(data)
        return len(data)
