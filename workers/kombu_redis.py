"""kombu's Redis transport, with one client for all the commands a worker's channel sends itself.

kombu builds a new ``redis.Redis`` for each such command (``Channel._create_client``): every message's
ack (QoS.ack's pipeline), every restore and size check. The constructor fills a table of some two
hundred response callbacks, about a tenth of a worker's CPU per short job. The client holds no
connection of its own (each command borrows one from the channel's pool), so one per pool serves
them all, as a fresh one would.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis

__all__ = ["TRANSPORT", "Channel", "Transport"]

#: What a worker sets as Celery's ``broker_transport`` for a ``redis://`` broker.
TRANSPORT = "workers.kombu_redis:Transport"


class Channel(kombu_redis.Channel):
    _shared_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:  # the consumer's own BRPOP connection: kombu keeps that one already
            return super()._create_client(asynchronous=True)  # type: ignore[no-untyped-call]
        client = self._shared_client
        # A channel that reconnects gets a new pool: its client goes with the old one.
        if client is None or client.connection_pool is not self.pool:
            client = self._shared_client = super()._create_client()  # type: ignore[no-untyped-call]
        return client


class Transport(kombu_redis.Transport):
    Channel = Channel
