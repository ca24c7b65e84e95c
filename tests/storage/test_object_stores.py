"""The two object stores behind one interface: local directory and S3 (a real SeaweedFS server)."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from spt_api.storage.base import ObjectStore, result_key, safe_name
from spt_api.storage.local import LocalObjectStore
from spt_api.storage.s3 import S3ObjectStore
from tests.support.s3server import SeaweedS3

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def s3() -> Iterator[SeaweedS3]:
    with SeaweedS3(bucket="spt-store-test") as server:
        yield server


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path / "objects")
    server: SeaweedS3 = request.getfixturevalue("s3")
    return server.object_store(f"t-{os.getpid()}-{tmp_path.name}", multipart_threshold=5 * MIB)


def test_put_read_delete(store: ObjectStore, tmp_path: Path) -> None:
    key = result_key("echo", "job1", "message")
    assert store.put_bytes(key, b"hello", "text/plain") == 5
    assert store.exists(key)
    assert b"".join(store.read_chunks(key)) == b"hello"
    assert store.delete_prefix("echo/job1") == 1
    assert not store.exists(key)
    with pytest.raises(FileNotFoundError):
        b"".join(store.read_chunks(key))


def test_large_file_round_trip(store: ObjectStore, tmp_path: Path) -> None:
    """12 MiB, above the 5 MiB multipart threshold of the S3 store: uploaded in parts, read back whole."""
    data = os.urandom(12 * MIB)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    key = result_key("cutout", "job2", "bundle.zip")
    assert store.put_file(key, source, "application/zip") == len(data)
    assert b"".join(store.read_chunks(key)) == data
    if isinstance(store, S3ObjectStore):
        head = store.client.head_object(Bucket=store.bucket, Key=store._key(key))
        assert "-" in head["ETag"], "a multipart upload has an ETag of the form md5-parts"


def test_signed_url_serves_the_object_and_refuses_tampering(store: ObjectStore) -> None:
    key = result_key("echo", "job3", "message")
    store.put_bytes(key, b"signed", "text/plain")
    url = store.signed_url(key, 60, "message.txt")
    if isinstance(store, LocalObjectStore):
        assert url is None  # the API streams local files itself
        return
    assert url is not None
    with urllib.request.urlopen(url) as response:
        assert response.read() == b"signed"
        assert "message.txt" in response.headers["Content-Disposition"]
    tampered = url.replace("job3", "job4")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(tampered)
    assert info.value.code == 403


@pytest.mark.parametrize(
    ("name", "expected"),
    [("../../etc/passwd", "etc_passwd"), ("a b/c", "a_b_c"), ("", "result"), ("ok.fits", "ok.fits")],
)
def test_result_names_cannot_escape(name: str, expected: str) -> None:
    assert safe_name(name) == expected
    assert ".." not in result_key("echo", "job", name)


def test_local_store_refuses_keys_outside_its_root(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    with pytest.raises(ValueError):
        store.put_bytes("../outside", b"x")
