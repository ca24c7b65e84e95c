"""Redis commands on a connection of each thread's own, spoken to directly.

The hot paths send one or two Redis commands per job (an event's PUBLISH, a task's LPUSH). A
``redis.Redis`` client takes a connection from its pool and hands it back, checks its process
id and wraps the call in retries on every command: about half of what a PUBLISH costs. Here each
thread (and process: a forked child makes its own and leaves its parent's socket alone) keeps one
connection, and a batch of commands goes out in one write. A lost connection is made again on the
next command; the first failure of a batch is retried once on a fresh one, as the client's retry
would.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import redis

__all__ = ["DirectRedis", "LoopRedis"]

#: What a connection's settings say of the server it reaches (``db`` is left out: it picks the keyspace,
#: not the server). TLS settings are compared too (every ``ssl_*`` key, and the connection class).
_SERVER_KEYS = ("host", "port", "path", "username", "password")


class DirectRedis:
    """Sends command batches to the Redis at ``url``, on this thread's connection."""

    def __init__(self, url: str, *, socket_timeout: float = 2, socket_connect_timeout: float = 2) -> None:
        self.url = url
        self.timeouts = {"socket_timeout": socket_timeout, "socket_connect_timeout": socket_connect_timeout}
        # The pool only parses the URL (host, port, db, password, TLS, unix socket); it lends no connection.
        pool = redis.ConnectionPool.from_url(url, **self.timeouts)
        self._connection_class = pool.connection_class
        self._connection_kwargs = pool.connection_kwargs
        self._local = threading.local()
        # For close(); weak, so that the connection of a thread that ended goes (and closes) with it.
        # redis-py's connections are untyped: Any, not a cast on every call.
        self._all: weakref.WeakSet[Any] = weakref.WeakSet()
        self._all_lock = threading.Lock()

    def execute(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Send ``commands`` in one write and return their answers, in order.

        Raises
        ------
        redis.RedisError
            If Redis cannot be reached twice in a row, or answers an error. A batch retried after a
            lost connection may have been executed once already: send only what may be repeated.
        """
        try:
            return self._send(commands)
        except (redis.ConnectionError, redis.TimeoutError):
            # A connection that died since the last batch (a Redis restart): once more on a new one.
            return self._send(commands)

    def execute_each(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """As :meth:`execute`, but a command that Redis answers with an error does not fail the others:
        its answer is that error (a :class:`redis.ResponseError`), returned, not raised. A lost
        connection still raises (after the one retry)."""
        try:
            return self._send(commands, replies_raise=False)
        except (redis.ConnectionError, redis.TimeoutError):
            return self._send(commands, replies_raise=False)

    def same_server(self, other: DirectRedis) -> bool:
        """Whether ``other`` reaches the same Redis server as this, as the same user (its ``db`` may differ:
        a command that ignores the keyspace, such as PUBLISH, may go on either's connection)."""

        def server(direct: DirectRedis) -> tuple[Any, ...]:
            kwargs = direct._connection_kwargs
            tls = sorted((k, repr(v)) for k, v in kwargs.items() if k.startswith("ssl"))
            return (direct._connection_class, *(kwargs.get(k) for k in _SERVER_KEYS), tls)

        return server(self) == server(other)

    def _connection(self) -> Any:
        pid = os.getpid()
        if getattr(self._local, "pid", None) != pid:
            connection = self._connection_class(**self._connection_kwargs)
            with self._all_lock:
                self._all.add(connection)
            self._local.connection, self._local.pid = connection, pid
        return self._local.connection

    def _send(self, commands: Sequence[tuple[Any, ...]], *, replies_raise: bool = True) -> list[Any]:
        connection = self._connection()
        try:
            connection.send_packed_command(connection.pack_commands(commands), check_health=False)
            if replies_raise:
                return [connection.read_response() for _ in commands]
            return [_reply(connection) for _ in commands]
        except BaseException:
            # Half a batch may be on the wire, or its answers still to come: never reuse that socket.
            connection.disconnect()
            raise

    def close(self) -> None:
        """Close every thread's connection (a thread that sends afterwards opens a new one)."""
        with self._all_lock:
            connections = list(self._all)
            self._all.clear()
        for connection in connections:
            connection.disconnect()
        self._local = threading.local()


def _reply(connection: Any) -> Any:
    """The next answer on ``connection``, an error answer returned: it was read whole, so the answers
    after it are still in step with their commands."""
    try:
        return connection.read_response()
    except redis.ResponseError as exc:
        return exc


class LoopRedis:
    """:meth:`DirectRedis.execute_each` for an event loop: the same server and settings, on one connection
    of its own (``redis.asyncio``), one batch at a time. A coroutine that sends on it gives the loop back
    while Redis answers, where a call through the thread pool costs two thread wake-ups."""

    def __init__(self, direct: DirectRedis) -> None:
        import redis.asyncio

        pool = redis.asyncio.ConnectionPool.from_url(direct.url, **direct.timeouts)
        self._connection_class = pool.connection_class
        self._connection_kwargs = pool.connection_kwargs
        self._connection: Any = None
        self._lock: asyncio.Lock | None = None

    async def execute_each(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Send ``commands`` in one write; their answers in order, an error answer returned, not raised.

        Raises
        ------
        redis.RedisError
            If Redis cannot be reached twice in a row. A batch retried after a lost connection may have been
            executed once already, as with :meth:`DirectRedis.execute_each`.
        """
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # the answers of one batch are read before the next batch is written
            try:
                return await self._send(commands)
            except (redis.ConnectionError, redis.TimeoutError):
                return await self._send(commands)

    async def _send(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        if self._connection is None:
            self._connection = self._connection_class(**self._connection_kwargs)
        connection = self._connection
        try:
            await connection.send_packed_command(connection.pack_commands(commands), check_health=False)
            answers = []
            for _ in commands:
                try:
                    answers.append(await connection.read_response())
                except redis.ResponseError as exc:
                    answers.append(exc)
            return answers
        except BaseException:
            # As DirectRedis: half a batch may be on the wire; this socket is not used again.
            self._connection = None
            await connection.disconnect()
            raise

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.disconnect()
