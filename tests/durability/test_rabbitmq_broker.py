"""RabbitMQ as the Celery broker (``SPT_API_BROKER_URL=amqp://…``), Redis for events only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection

from tests.conftest import ProductionInfra
from tests.support.celery_worker import CeleryWorker
from tests.support.server import RunningServer, start_server

AMQP = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture(scope="module")
def rabbit_server(
    production_infra: ProductionInfra, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    try:
        with Connection(AMQP, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # pragma: no cover - the machine's RabbitMQ is part of CI
        pytest.fail(f"RabbitMQ at {AMQP} is not reachable: {exc}")
    data_dir: Path = tmp_path_factory.mktemp("rabbit")
    env = production_infra.env(SPT_API_BROKER_URL=AMQP, SPT_API_DATA_DIR=str(data_dir))
    worker = CeleryWorker(env, queues="echo", concurrency=1, name="rabbit").start()
    server, stop = start_server(production_infra.settings(broker_url=AMQP, data_dir=data_dir))
    try:
        yield server
    finally:
        stop()
        worker.stop()


def test_echo_job_through_rabbitmq(rabbit_server: RunningServer) -> None:
    job_url = rabbit_server.create_job("echo", run=True, message="over amqp")
    job = rabbit_server.wait_final(job_url, timeout=60)
    assert job["phase"] == "COMPLETED", job
    with rabbit_server.client() as client:
        health = client.get("/health").json()
    assert health["components"]["queue"]["status"] == "ok"


def test_abort_through_rabbitmq(rabbit_server: RunningServer) -> None:
    job_url = rabbit_server.create_job("echo", run=True, message="slow", delay=30)
    with rabbit_server.client() as client:
        job = client.get(job_url, params={"WAIT": 20, "PHASE": "QUEUED"}, headers={"Accept": "application/json"}).json()
        assert job["phase"] == "EXECUTING"
        assert client.post(f"{job_url}/phase", data={"PHASE": "ABORT"}).status_code == 303
    assert rabbit_server.wait_final(job_url, timeout=20)["phase"] == "ABORTED"
