"""Smoke tests of the private test servers in ``tests.support``: each starts, answers, and
survives stop()/start() on the same port and data dir; close() leaves nothing behind."""

from __future__ import annotations

import glob
import urllib.error
import urllib.request
from collections.abc import Iterator

import psycopg
import pytest
import redis

from tests.support._proc import ServerStartError, free_port_pair, wait_until
from tests.support.pgserver import PrivatePostgres, drop_database, fresh_database_on_machine_pg
from tests.support.redisserver import PrivateRedis, machine_redis_url
from tests.support.s3server import SeaweedS3


@pytest.fixture(scope="module")
def s3() -> Iterator[SeaweedS3]:
    with SeaweedS3(bucket="spt-infra") as server:
        yield server


@pytest.fixture(scope="module")
def pg() -> Iterator[PrivatePostgres]:
    with PrivatePostgres() as server:
        yield server


@pytest.fixture(scope="module")
def rds() -> Iterator[PrivateRedis]:
    with PrivateRedis() as server:
        yield server


# -- S3 ----------------------------------------------------------------------------------------
def test_s3_put_get_presigned(s3: SeaweedS3) -> None:
    assert s3.endpoint_url == f"http://127.0.0.1:{s3.port}"
    assert (s3.access_key, s3.secret_key, s3.region) == ("testkey", "testsecret", "us-east-1")
    client = s3.client()
    client.put_object(
        Bucket=s3.bucket, Key="jobs/1/out.json", Body=b'{"ok": true}', ContentType="application/json"
    )
    got = client.get_object(Bucket=s3.bucket, Key="jobs/1/out.json")
    assert got["Body"].read() == b'{"ok": true}'
    assert got["ContentType"] == "application/json"

    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": s3.bucket, "Key": "jobs/1/out.json"}, ExpiresIn=60
    )
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.read() == b'{"ok": true}'
    tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=00")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(tampered, timeout=10)
    assert info.value.code == 403


def test_s3_rejects_wrong_secret(s3: SeaweedS3) -> None:
    import boto3
    from botocore.exceptions import ClientError

    bad = boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key="wrong",
        region_name=s3.region,
    )
    with pytest.raises(ClientError):
        bad.list_objects_v2(Bucket=s3.bucket)


def test_s3_outage_and_recovery(s3: SeaweedS3) -> None:
    client = s3.client(retries={"max_attempts": 1}, connect_timeout=1)
    client.put_object(Bucket=s3.bucket, Key="survivor", Body=b"still here")
    port, data_dir = s3.port, s3.data_dir
    s3.stop(kill=True)
    with pytest.raises(Exception):  # noqa: B017 - any connection error will do
        client.head_object(Bucket=s3.bucket, Key="survivor")
    s3.start()
    assert (s3.port, s3.data_dir) == (port, data_dir)
    assert client.get_object(Bucket=s3.bucket, Key="survivor")["Body"].read() == b"still here"


def test_s3_close_removes_everything() -> None:
    server = SeaweedS3(bucket="spt-closing").start()
    data_dir, ports = server.data_dir, dict(server.ports)
    assert data_dir is not None and data_dir.is_dir()
    server.close()
    assert not data_dir.exists()
    for p in ports.values():
        assert not glob.glob(f"/tmp/seaweedfs-*-{p}.sock") + glob.glob(f"/tmp/seaweedfs-*-{p + 10000}.sock")


# -- PostgreSQL -----------------------------------------------------------------------------------
def test_pg_select_and_restart(pg: PrivatePostgres) -> None:
    assert pg.url == f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
    url = pg.create_database("infra")
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (42)")
    pg.stop()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=1)
    pg.start()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT x FROM t").fetchall() == [(42,)]
    pg.stop(kill=True)  # immediate shutdown: crash recovery on the next start
    pg.start()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT x FROM t").fetchall() == [(42,)]


def test_machine_pg_fresh_database() -> None:
    url = fresh_database_on_machine_pg("spt_infra")
    try:
        assert url.startswith("postgresql://") and "/spt_infra_" in url
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (url.rsplit("/", 1)[1],)
    finally:
        drop_database(url)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)


# -- Redis ------------------------------------------------------------------------------------------
def test_redis_ping_and_restart(rds: PrivateRedis) -> None:
    assert rds.url == f"redis://127.0.0.1:{rds.port}/0"
    client = redis.Redis.from_url(rds.url, socket_connect_timeout=1)
    assert client.ping()
    client.set("k", "v")
    rds.stop()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    rds.start()
    assert client.ping()
    assert client.get("k") is None  # no persistence: a restart starts empty
    client.close()


def test_machine_redis_url() -> None:
    url = machine_redis_url(15)
    assert url == "redis://127.0.0.1:6379/15"
    client = redis.Redis.from_url(url)
    assert client.ping()
    client.close()


# -- plumbing ---------------------------------------------------------------------------------------
def test_free_port_pair_leaves_grpc_twin_free() -> None:
    p = free_port_pair()
    assert p + 10000 <= 65535


def test_start_failure_shows_log() -> None:
    server = PrivateRedis(extra_args=["--no-such-option", "x"], startup_timeout=10)
    with pytest.raises(ServerStartError, match="no-such-option"):
        server.start()
    server.close()


def test_wait_until_deadline() -> None:
    with pytest.raises(ServerStartError, match="not ready after"):
        wait_until(lambda: False, timeout=0.2, what="never")
