"""Single-statement SQLite writes that never wait: cheap enough for the API's event loop.

A store call otherwise takes a trip to the API's thread pool (a wake-up of a pool thread, then of the
loop, and the GIL handed over twice): on the embedded backend that trip cost a job more than the
INSERT itself. The INSERT alone takes a few tens of microseconds, but only when nothing else is
writing: SQLite has one writer at a time, and ``busy_timeout`` would make the loop sleep until the
pool's worker processes are done. Hence this connection waits for nothing: its ``busy_timeout`` is 0,
so a write that would wait fails at once, writing nothing, and the caller does it from a thread as
before; and it never checkpoints (``wal_autocheckpoint=0``), the one step of a WAL commit that writes
the database file and syncs it (the pool's and the workers' connections checkpoint as before).

The statement goes to the sqlite3 connection itself, its values converted by the columns' own
SQLAlchemy types (the rows are those SQLAlchemy writes and reads): SQLAlchemy's execution around it
cost four times the INSERT.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

__all__ = ["SqliteWriteNow"]

Processor = Callable[[Any], Any] | None


def _busy(exc: sqlite3.Error) -> bool:
    """SQLITE_BUSY (and its extended codes): another connection holds the lock this write needs."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


class _Insert:
    """``INSERT INTO table (names) VALUES (?...) RETURNING *``, with the columns' value conversions."""

    def __init__(self, table: sa.Table, dialect: Any, names: Sequence[str]) -> None:
        self.names = tuple(names)
        columns = ", ".join(c.name for c in table.c)
        self.sql = (
            f"INSERT INTO {table.name} ({', '.join(self.names)}) VALUES ({', '.join('?' * len(self.names))}) "
            f"RETURNING {columns}"
        )
        self.binds: list[Processor] = [table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names]
        self.results: list[tuple[str, Processor]] = [
            (c.name, c.type.dialect_impl(dialect).result_processor(dialect, None)) for c in table.c
        ]

    def parameters(self, values: dict[str, Any]) -> list[Any]:
        ordered = (values[n] for n in self.names)
        return [v if bind is None else bind(v) for bind, v in zip(self.binds, ordered, strict=True)]

    def row(self, raw: Sequence[Any]) -> dict[str, Any]:
        pairs = zip(self.results, raw, strict=True)
        return {name: v if convert is None else convert(v) for (name, convert), v in pairs}


class SqliteWriteNow:
    """Each thread's own held connection, set never to wait; :meth:`insert` writes one row or nothing."""

    def __init__(self, engine: Engine, table: sa.Table) -> None:
        self.engine = engine
        self.table = table
        self._local = threading.local()
        self._inserts: dict[tuple[str, ...], _Insert] = {}

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # Through the engine: its connect hooks (WAL, synchronous=NORMAL) apply. Checked out for good:
            # the pool's proxy is kept, else it would go back to the pool, whose other users (threads that
            # may wait for the lock) would get it set never to wait.
            self._local.checkout = self.engine.raw_connection()
            conn = self._local.checkout.driver_connection
            assert isinstance(conn, sqlite3.Connection)
            conn.isolation_level = None  # autocommit: the INSERT is its own transaction
            conn.execute("PRAGMA busy_timeout=0")
            conn.execute("PRAGMA wal_autocheckpoint=0")
            self._local.conn = conn
        return conn

    def _insert(self, names: tuple[str, ...]) -> _Insert:
        insert = self._inserts.get(names)
        if insert is None:
            insert = self._inserts[names] = _Insert(self.table, self.engine.dialect, names)
        return insert

    def insert(self, values: dict[str, Any]) -> dict[str, Any] | None:
        """The row inserted with ``values`` (by column name), as SQLAlchemy would have read it; None, with
        nothing written, when it would have waited for another writer or broke a constraint: the caller's
        usual write then runs (and says what the constraint was)."""
        insert = self._insert(tuple(values))
        parameters = insert.parameters(values)
        try:
            # Inside the try: a new connection's PRAGMA journal_mode=WAL may find the database locked too.
            # All rows fetched: the statement, and with it its transaction and the lock, ends only then.
            raw = self._connection().execute(insert.sql, parameters).fetchall()[0]
        except sa.exc.OperationalError as exc:  # from the engine's connect
            if isinstance(exc.orig, sqlite3.Error) and _busy(exc.orig):
                return None
            raise
        except sqlite3.IntegrityError:
            return None
        except sqlite3.OperationalError as exc:
            if _busy(exc):
                return None
            # As the engine raises it: the API answers 503 (the database is unavailable).
            raise sa.exc.OperationalError(insert.sql, parameters, exc) from exc
        return insert.row(raw)
