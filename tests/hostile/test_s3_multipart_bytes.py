"""Results added as bytes honour ``SPT_API_S3_MULTIPART_THRESHOLD_MB`` as files do (a real SeaweedFS server).

Echo results, single cutouts and manifests are stored with ``put_bytes``: above the threshold they must
go up in parts, as ``put_file`` uploads do, not as one PUT of the whole object.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from spt_api.storage.s3 import S3ObjectStore
from tests.support.s3server import SeaweedS3

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def s3() -> Iterator[SeaweedS3]:
    with SeaweedS3(bucket="spt-multipart-bytes") as server:
        yield server


@pytest.fixture
def store(s3: SeaweedS3) -> S3ObjectStore:
    return s3.object_store(f"mp-{os.getpid()}", multipart_threshold=1 * MIB)


def _etag(store: S3ObjectStore, key: str) -> str:
    head = store.client.head_object(Bucket=store.bucket, Key=store._key(key))
    etag: str = head["ETag"].strip('"')
    return etag


def test_put_bytes_above_the_threshold_is_multipart(store: S3ObjectStore) -> None:
    data = os.urandom(3 * MIB)
    assert store.put_bytes("echo/big/result.bin", data, "application/octet-stream") == len(data)
    # An S3 multipart object's ETag is "<md5 of the parts' md5s>-<number of parts>"; one PUT has no suffix.
    etag = _etag(store, "echo/big/result.bin")
    assert "-" in etag, f"3 MiB with a 1 MiB threshold went up in one PUT (ETag {etag})"
    assert b"".join(store.read_chunks("echo/big/result.bin")) == data
    head = store.client.head_object(Bucket=store.bucket, Key=store._key("echo/big/result.bin"))
    assert head["ContentType"] == "application/octet-stream"


def test_put_bytes_below_the_threshold_is_one_put(store: S3ObjectStore) -> None:
    assert store.put_bytes("echo/small/result.txt", b"hello", "text/plain") == 5
    assert "-" not in _etag(store, "echo/small/result.txt")
    assert b"".join(store.read_chunks("echo/small/result.txt")) == b"hello"
