"""Single-statement SQLite writes that never wait: cheap enough for the API's event loop.

A store call otherwise takes a trip to the API's thread pool (a wake-up of a pool thread, then of the
loop, and the GIL handed over twice): on the embedded backend that trip cost a job more than the
INSERT itself. The INSERT alone takes about 0.1 ms, but only when nothing else is writing: SQLite
has one writer at a time, and ``busy_timeout`` would make the loop sleep until the pool's worker
processes are done. Hence this connection waits for nothing: its ``busy_timeout`` is 0, so a write
that would wait fails at once, writing nothing, and the caller does it from a thread as before; and
it never checkpoints (``wal_autocheckpoint=0``), the one step of a WAL commit that writes the database
file and syncs it (the pool's and the workers' connections checkpoint as before).
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

__all__ = ["SqliteWriteNow"]


def _busy(exc: sa.exc.OperationalError) -> bool:
    """SQLITE_BUSY (and its extended codes): another connection holds the lock this write needs."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


class SqliteWriteNow:
    """Each thread's own held connection, set never to wait; :meth:`insert` writes one row or nothing."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()

    def _connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self.engine.connect()
            conn.exec_driver_sql("PRAGMA busy_timeout=0")
            conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
            conn.commit()
            self._local.conn = conn
        return conn

    def insert(self, statement: Any, values: dict[str, Any]) -> RowMapping | None:
        """The row ``statement`` (an INSERT ... RETURNING) inserted; None, with nothing written, when it
        would have waited for another writer or broke a constraint: the caller's usual write then runs
        (and says what the constraint was)."""
        conn: Connection | None = None
        try:
            # Inside the try: a new connection's PRAGMA journal_mode=WAL may find the database locked too.
            conn = self._connection()
            row = conn.execute(statement, values).mappings().one()
            conn.commit()
        except sa.exc.OperationalError as exc:
            if conn is not None:
                conn.rollback()
            if _busy(exc):
                return None
            raise
        except sa.exc.IntegrityError:
            if conn is not None:
                conn.rollback()
            return None
        return row
