"""Fixtures of the durability tests: each test module gets its own processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.durability.stack import Stack
from tests.support.pgserver import PrivatePostgres, migrated_database
from tests.support.redisserver import PrivateRedis
from tests.support.s3server import SeaweedS3


@pytest.fixture(scope="module")
def durability_s3() -> Iterator[SeaweedS3]:
    """An S3 server of this module's own (tests of S3 outages stop and start it)."""
    with SeaweedS3(bucket="spt-durability") as server:
        yield server


@pytest.fixture(scope="module")
def machine_db() -> Iterator[str]:
    """A fresh, migrated database on the machine's PostgreSQL."""
    with migrated_database("spt_durability") as url:
        yield url


@pytest.fixture(scope="module")
def private_redis() -> Iterator[PrivateRedis]:
    with PrivateRedis() as server:
        yield server


@pytest.fixture
def own_redis() -> Iterator[PrivateRedis]:
    """A Redis of the test's own, for tests that stop and restart it."""
    with PrivateRedis() as server:
        yield server


@pytest.fixture
def own_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL of the test's own, for tests that stop and restart it."""
    with PrivatePostgres() as server:
        yield server


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    stacks: list[Stack] = []

    def make(database_url: str, redis_url: str, s3: SeaweedS3) -> Stack:
        stack = Stack(database_url, redis_url, s3, tmp_path / f"stack{len(stacks)}")
        stack.data_dir.mkdir()
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.close()
