"""A job's INSERT from the API's event loop, on PostgreSQL: the create path's one database write without
the trip to the thread pool.

A store call otherwise wakes a pool thread, then the loop again when it is done, and hands the GIL over
twice; on a two-core machine those wake-ups cost a submission about as much as the INSERT. Here the loop
sends the same statement (:data:`~spt_api.db.hot_path.INSERT`) on psycopg's asynchronous connection and
serves other requests while PostgreSQL answers.

It only ever says yes or "not from here": any failure (no connection to be had, one lost, every
connection busy) returns None with the connection dropped, and the caller makes the same INSERT from a
thread, whose retry, conflict handling and 503 are the store's. An INSERT that committed before its
connection was lost is then found by that retry (the job id is taken: the store reads the job back).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import psycopg
from sqlalchemy.engine import Engine

from spt_api.db.hot_path import INSERT, insert_parameters

__all__ = ["LoopInsert"]

#: After a failed connect, the loop leaves creates to the thread pool this long (seconds): a database that
#: is down must not make each submission wait for a connect timeout of its own first.
CONNECT_BACKOFF = 5.0


class LoopInsert:
    """Up to ``max_connections`` asynchronous connections of one event loop, made on first use."""

    def __init__(self, engine: Engine, max_connections: int) -> None:
        self.dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.max_connections = max_connections
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._open = 0
        self._down_until = 0.0

    async def insert(self, values: Mapping[str, Any]) -> dict[str, Any] | None:
        """The stored row of ``values`` (as :meth:`PgHotPath.insert <spt_api.db.hot_path.PgHotPath.insert>`);
        None when it was not written from here (see the module's note): write it from a thread then."""
        connection = await self._acquire()
        if connection is None:
            return None
        row, parameters = insert_parameters(values)
        written = False
        try:
            await connection.execute(INSERT, parameters)
            written = True
        except psycopg.Error:
            pass
        finally:
            # Cancelled or failed, the connection is in a state unknown: closed, not reused.
            if written:
                self._idle.append(connection)
            else:
                self._discard(connection)
        return row if written else None

    async def _acquire(self) -> psycopg.AsyncConnection[Any] | None:
        if self._idle:
            return self._idle.pop()
        if self._open >= self.max_connections or time.monotonic() < self._down_until:
            return None
        self._open += 1
        try:
            return await psycopg.AsyncConnection.connect(self.dsn, autocommit=True, connect_timeout=2)
        except psycopg.Error:
            self._open -= 1
            self._down_until = time.monotonic() + CONNECT_BACKOFF
            return None

    def _discard(self, connection: psycopg.AsyncConnection[Any]) -> None:
        # libpq's own close: no await, so it also runs where a cancelled coroutine cannot wait any more.
        self._open -= 1
        connection.pgconn.finish()

    def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            self._discard(connection)
