"""Shared fixtures: a real spt-api server on a free port, per backend.

The server itself (:class:`~tests.support.server.RunningServer`) lives in tests/support/server.py.
Tests that need PostgreSQL, Redis, an S3 server or Celery workers get the ``services`` marker here
(:func:`pytest_collection_modifyitems`), so ``pytest -m "not services"`` runs on a bare machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from spt_api.config import Settings
from tests.support.celery_worker import ProductionBackends
from tests.support.server import RunningServer, serving

#: Fixtures that start or reach PostgreSQL, Redis, an S3 server (SeaweedFS) or Celery workers;
#: ``s3`` is the name every test module gives its private SeaweedS3.
SERVICE_FIXTURES = frozenset({"production_infra", "celery_worker", "s3"})
#: Parametrized fixtures whose param picks services at run time (request.getfixturevalue), so the
#: service fixture is not among the test's fixturenames: fixture name -> the params that need them.
SERVICE_PARAMS: dict[str, frozenset[str]] = {"server": frozenset({"production"}), "store": frozenset({"s3"})}
#: Paths under tests/ whose every test needs services (their own servers, or the machine's).
SERVICE_PATHS = (Path("durability"), Path("support_tests/test_infra.py"))


def _needs_services(item: pytest.Item) -> bool:
    if SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    if callspec is not None and any(
        callspec.params.get(name) in params for name, params in SERVICE_PARAMS.items()
    ):
        return True
    tests_dir = Path(__file__).parent
    return any(item.path.is_relative_to(tests_dir / path) for path in SERVICE_PATHS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _needs_services(item):
            item.add_marker(pytest.mark.services)


@pytest.fixture(scope="session")
def demo_maps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small synthetic SPT-3G-like maps (three bands, ZEA and CAR fields) with their catalogue."""
    from workers.services.cutout.demo import make_demo_maps

    directory = tmp_path_factory.mktemp("maps")
    make_demo_maps(directory, small=True)
    return directory


def cutout_maps(maps: Path | str) -> dict[str, dict[str, Any]]:
    """``Settings.service_settings`` that point the cutout service at ``maps``."""
    return {"cutout": {"maps_url": str(maps)}}


def embedded_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "service_settings": {"cutout": {"maps_url": str(data_dir / "maps")}},
        # Small, so cutout jobs of a few positions already fan out to child jobs.
        "fan_out_chunk": 3,
        "embedded_pool_size": 2,
        "wait_max": 30,
        "heartbeat_interval": 1,
        "max_body_size": 1024 * 1024,
    }
    values.update(overrides)
    return Settings(**values)


class ProductionInfra(ProductionBackends):
    """PostgreSQL (a fresh database on the machine's server), Redis (a private server), S3 (SeaweedFS)."""

    settings_defaults: ClassVar[dict[str, Any]] = {"heartbeat_timeout": 5, "fan_out_chunk": 3}


@pytest.fixture(scope="session")
def production_infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProductionInfra]:
    from spt_api.db.migrate import migrate
    from tests.support.pgserver import drop_database, fresh_database_on_machine_pg
    from tests.support.redisserver import PrivateRedis
    from tests.support.s3server import SeaweedS3

    database_url = fresh_database_on_machine_pg("spt_test")
    migrate(database_url)
    # A redis-server of the session's own on a free port, not a db number on the machine's Redis:
    # other test runs and benchmarks on the same machine share that one, and neither side may
    # FLUSHDB the other's broker queues and job events. It starts empty (no persistence), so
    # nothing needs flushing; worker subprocesses get its URL through env().
    redis_server = PrivateRedis().start()
    try:
        s3 = SeaweedS3(bucket="spt-outputs").start()
        try:
            yield ProductionInfra(database_url, redis_server.url, s3, tmp_path_factory.mktemp("production"))
        finally:
            s3.close()
    finally:
        redis_server.close()
        drop_database(database_url)


@pytest.fixture(scope="session")
def celery_worker(production_infra: ProductionInfra, demo_maps: Path) -> Iterator[Any]:
    from tests.support.celery_worker import CeleryWorker

    env = production_infra.env(
        SPT_API_MAPS_URL=str(demo_maps),
        SPT_API_FAN_OUT_CHUNK="3",
        # No shard workers here: a search's pieces go to the search queue, which this worker consumes too.
        SPT_API_SEARCH_SHARD_QUEUES="false",
        SPT_API_SEARCH_THREADS="1",
    )
    worker = CeleryWorker(env, queues="echo,cutout,index,search", concurrency=2).start()
    yield worker
    worker.stop()


@pytest.fixture(scope="session", params=["embedded", "production"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A running server per backend; the same tests run against each."""
    maps: Path = request.getfixturevalue("demo_maps")
    if request.param == "embedded":
        settings = embedded_settings(tmp_path_factory.mktemp("embedded"), service_settings=cutout_maps(maps))
    else:
        infra: ProductionInfra = request.getfixturevalue("production_infra")
        request.getfixturevalue("celery_worker")
        settings = infra.settings(service_settings=cutout_maps(maps))
    with serving(settings) as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c
