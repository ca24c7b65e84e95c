"""Job events over Redis pub/sub, so a change made by any process wakes waiters in every API process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import redis
import redis.asyncio as aioredis

from spt_api.events.bus import EventBus, InProcessEventBus, Subscription
from spt_api.events.messages import JobEvent
from spt_api.redis_direct import DirectRedis
from spt_api.uws.principal import Principal

__all__ = ["RedisEventBus", "RedisEventPublisher"]

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "spt:job:"
#: Pause before reconnecting to a Redis that went away; short so WAITs resume quickly.
RECONNECT_DELAY = 0.5
#: How long the key by which one replica takes a job-ending event lives: longer than any replica lags.
EXCLUSIVE_CLAIM_SECONDS = 3600
#: How long job-ending events wait to be claimed together (the duration histogram lags by this much).
CLAIM_BATCH_SECONDS = 0.05


class RedisEventPublisher:
    """Synchronous publisher for workers (and the API's pool threads); a Redis outage loses the event,
    never the job. Each thread publishes on a connection of its own (:class:`~spt_api.redis_direct.DirectRedis`)."""

    def __init__(self, url: str, prefix: str = CHANNEL_PREFIX) -> None:
        self._redis = DirectRedis(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix

    def publish(self, job_id: str, event: JobEvent) -> None:
        self.publish_many([(job_id, event)])

    def publish_many(self, events: Sequence[tuple[str, JobEvent]]) -> None:
        """Publish ``events`` in order, in one round trip (one write, then their answers)."""
        try:
            self._redis.execute([self.command(job_id, event) for job_id, event in events])
        except redis.RedisError as exc:
            self.lost(events, exc)

    @property
    def redis(self) -> DirectRedis:
        """The connections it publishes on (to tell whether another's reach the same server)."""
        return self._redis

    def command(self, job_id: str, event: JobEvent) -> tuple[str, str, bytes]:
        """The Redis command that publishes ``event``, for a caller that sends it in a batch of its own
        (on a connection to the same server: channels are server-wide, whatever the connection's db)."""
        return ("PUBLISH", self.prefix + job_id, event.to_json())

    @staticmethod
    def lost(events: Sequence[tuple[str, JobEvent]], exc: Exception) -> None:
        """Say that ``events`` were not published: logged, as the job is not lost (it is stored)."""
        log.warning("event not published (%d in the batch): %s", len(events), exc, extra={"job_id": events[0][0]})

    def close(self) -> None:
        """Close every thread's connection (a thread that publishes afterwards opens a new one)."""
        self._redis.close()


class RedisEventBus(EventBus):
    def __init__(self, url: str, prefix: str = CHANNEL_PREFIX) -> None:
        self.url = url
        self.prefix = prefix
        self._local = InProcessEventBus()
        self._publisher = RedisEventPublisher(url, prefix)
        # One thread: publishing never blocks the event loop, and events leave in the order published.
        self._publish_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="redis-publish")
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._exclusive: list[Callable[[str, JobEvent], None]] = []
        self._commands: aioredis.Redis | None = None
        self._claims: set[asyncio.Task[None]] = set()
        self._pending_claims: list[tuple[str, JobEvent]] = []

    async def start(self) -> None:
        await self._local.start()
        self._commands = aioredis.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=2)
        self._task = asyncio.create_task(self._listen())
        # Do not block start-up on Redis: the API must come up (and say so in /health) when it is down.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout=2)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._publish_thread.shutdown(wait=True)
        # The connections of the threads that published (this bus's own, and the job store's pool
        # threads through publish_now): closed now rather than left to the garbage collector.
        self._publisher.close()
        if self._commands is not None:
            with contextlib.suppress(Exception):
                await self._commands.aclose()

    def healthy(self) -> bool:
        return self._connected.is_set()

    @property
    def publisher(self) -> RedisEventPublisher:
        """What :meth:`publish_now` publishes with (a dispatcher on the same Redis may send its events)."""
        return self._publisher

    def publish(self, job_id: str, event: JobEvent) -> None:
        self._publish_thread.submit(self._publisher.publish, job_id, event)

    def publish_many(self, events: Sequence[tuple[str, JobEvent]]) -> None:
        self._publish_thread.submit(self._publisher.publish_many, list(events))

    def publish_now(self, job_id: str, event: JobEvent) -> None:
        self._publisher.publish(job_id, event)

    def add_listener(self, listener: Callable[[str, JobEvent], None]) -> None:
        self._local.add_listener(listener)

    def add_exclusive_listener(self, listener: Callable[[str, JobEvent], None]) -> None:
        self._exclusive.append(listener)

    def subscribe(
        self, principal: Principal, job_id: str, *, limit: int = 0, on_overflow: Callable[[], None] | None = None
    ) -> Subscription:
        return self._local.subscribe(principal, job_id, limit=limit, on_overflow=on_overflow)

    def subscribe_all(
        self, principal: Principal, *, limit: int = 0, on_overflow: Callable[[], None] | None = None
    ) -> Subscription:
        return self._local.subscribe_all(principal, limit=limit, on_overflow=on_overflow)

    def _queue_exclusive(self, job_id: str, event: JobEvent) -> None:
        """Claim the event for this replica with the others pending: one pipelined round trip per
        :data:`CLAIM_BATCH_SECONDS` rather than a command (and a task) per job."""
        self._pending_claims.append((job_id, event))
        if len(self._pending_claims) == 1:
            asyncio.get_running_loop().call_later(CLAIM_BATCH_SECONDS, self._start_claims)

    def _start_claims(self) -> None:
        batch, self._pending_claims = self._pending_claims, []
        claim = asyncio.create_task(self._deliver_exclusive(batch))
        self._claims.add(claim)
        claim.add_done_callback(self._claims.discard)

    async def _deliver_exclusive(self, batch: list[tuple[str, JobEvent]]) -> None:
        """The first replica to set an event's key (SET NX) hands it to the exclusive listeners."""
        if self._commands is None or not batch:
            return
        try:
            async with self._commands.pipeline(transaction=False) as pipe:
                for job_id, event in batch:
                    pipe.set(f"{self.prefix}ended:{job_id}:{event.phase}", b"1", nx=True, ex=EXCLUSIVE_CLAIM_SECONDS)
                taken = await pipe.execute()
        except Exception as exc:
            log.warning("%d job-ending events not counted: %s", len(batch), exc)
            return
        for (job_id, event), won in zip(batch, taken, strict=True):
            if won:
                for listener in self._exclusive:
                    listener(job_id, event)

    async def _listen(self) -> None:
        while True:
            client = aioredis.Redis.from_url(self.url, socket_connect_timeout=2)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.psubscribe(self.prefix + "*")
                    self._connected.set()
                    async for message in pubsub.listen():
                        if message.get("type") != "pmessage":
                            continue
                        channel = message["channel"].decode()
                        try:
                            event = JobEvent.from_json(message["data"])
                        except ValueError:  # pydantic's ValidationError too: a stranger's message
                            continue
                        job_id = channel.removeprefix(self.prefix)
                        self._local.publish(job_id, event)
                        if self._exclusive and event.duration is not None:
                            # After the waiters are woken, not before: the claim is a Redis round trip.
                            self._queue_exclusive(job_id, event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._connected.clear()
                log.warning("redis event listener lost its connection: %s", exc)
                await asyncio.sleep(RECONNECT_DELAY)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()
