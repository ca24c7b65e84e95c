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

import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import redis

__all__ = ["DirectRedis"]


class DirectRedis:
    """Sends command batches to the Redis at ``url``, on this thread's connection."""

    def __init__(self, url: str, *, socket_timeout: float = 2, socket_connect_timeout: float = 2) -> None:
        # The pool only parses the URL (host, port, db, password, TLS, unix socket); it lends no connection.
        pool = redis.ConnectionPool.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_connect_timeout
        )
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

    def _connection(self) -> Any:
        pid = os.getpid()
        if getattr(self._local, "pid", None) != pid:
            connection = self._connection_class(**self._connection_kwargs)
            with self._all_lock:
                self._all.add(connection)
            self._local.connection, self._local.pid = connection, pid
        return self._local.connection

    def _send(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        connection = self._connection()
        try:
            connection.send_packed_command(connection.pack_commands(commands), check_health=False)
            return [connection.read_response() for _ in commands]
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
