"""A worker's Redis transport keeps one client for its own commands (acks above all), and acks still work."""

from __future__ import annotations

from typing import Any

import redis
from kombu import Connection

from spt_api.config import Settings
from spt_api.services.registry import ServiceRegistry
from tests.conftest import ProductionInfra
from workers.celery_app import build_worker_app
from workers.kombu_redis import TRANSPORT, Transport


def test_acks_share_one_client_and_still_take_the_message_off_the_books(production_infra: ProductionInfra) -> None:
    # A db of its own: the session's Celery workers keep their own books ("unacked") in the broker's.
    assert production_infra.redis_url.endswith("/0")
    url = production_infra.redis_url.removesuffix("/0") + "/7"
    raw = redis.Redis.from_url(url)
    with Connection(url, transport=Transport) as connection:
        queue = connection.SimpleQueue("spt-test-kombu-acks")
        channel: Any = queue.channel
        assert channel._create_client() is channel._create_client()
        for i in range(3):
            queue.put({"n": i})
        for i in range(3):
            message = queue.get(timeout=5)
            assert message.payload == {"n": i}
            assert raw.hlen("unacked") == 1  # kombu's books: delivered, not yet acknowledged
            message.ack()
            assert raw.hlen("unacked") == 0
        # A reconnected channel has a new pool: the client of the old one is not kept.
        first = channel._create_client()
        channel._pool = None
        assert channel._create_client() is not first
        queue.close()


def test_only_a_plain_redis_broker_gets_it(production_infra: ProductionInfra) -> None:
    services = ServiceRegistry.from_entry_points()
    on_redis = build_worker_app(Settings(broker_url=production_infra.redis_url), services)
    assert on_redis.conf.broker_transport == TRANSPORT
    with on_redis.connection_for_write() as connection:
        assert isinstance(connection.transport, Transport)
    on_amqp = build_worker_app(Settings(broker_url="amqp://guest@127.0.0.1:5672//"), services)
    assert on_amqp.conf.broker_transport != TRANSPORT
