"""The three statements of every job's life on PostgreSQL (create, claim, complete), run on psycopg itself.

SQLAlchemy Core costs a one-row statement four times what psycopg does (its execution
context, result metadata from ``cursor.description``, row mappings): about a quarter of a
millisecond of CPU each, three times a job, on a job that costs a few milliseconds in all.
These three take the pooled connection from the engine (so its checkout ping and its pool
hold) and send fixed SQL with psycopg, which prepares it server-side after a few runs.
Errors are raised as SQLAlchemy's, marked invalidated on a lost connection, exactly as the
engine would: :func:`~spt_api.db.liveness.retry_once_on_disconnect` and the API's 503 see no
difference. SQLite (embedded) keeps the SQLAlchemy path.

A worker process runs one job at a time and sends these statements back to back: with
``hold=True`` each thread keeps its pooled connection (and one cursor, whose adapters stay
warm) between statements rather than checking it out and in around each one, a fifth of
the statement's CPU. A held connection idle longer than
:data:`~spt_api.db.liveness.PING_AFTER_IDLE` is pinged first, as the pool would on checkout,
and a failed one is dropped, so the retry on disconnect gets a fresh connection.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.types.json import Jsonb
from sqlalchemy.engine import Engine
from sqlalchemy.pool import PoolProxiedConnection

from spt_api.db.liveness import PING_AFTER_IDLE
from spt_api.db.schema import jobs
from spt_api.uws.phases import ExecutionPhase

__all__ = ["COLUMNS", "INSERT", "PgHotPath", "insert_parameters"]

#: Every column of ``jobs``, in the order the statements below return them.
COLUMNS: tuple[str, ...] = tuple(c.name for c in jobs.c)
_JSON_COLUMNS = frozenset({"parameters", "results"})
_LIST = ", ".join(f'"{name}"' for name in COLUMNS)

# No RETURNING: every column is given (absent ones as NULL), so the stored row is what was sent, and
# reading it back would only cost the loaders of 25 columns.
INSERT = f"INSERT INTO jobs ({_LIST}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
_CLAIM = (
    "UPDATE jobs SET phase = %(executing)s, start_time = %(now)s, heartbeat_time = %(now)s, "
    "worker_id = %(worker_id)s, attempts = attempts + 1 "
    f"WHERE job_id = %(job_id)s AND phase = %(queued)s RETURNING {_LIST}"
)
_COMPLETE = (
    "UPDATE jobs SET phase = %(completed)s, end_time = %(now)s, results = %(results)s "
    "WHERE job_id = %(job_id)s AND phase = %(executing)s"
)
_COMPLETE_OWN = _COMPLETE + " AND worker_id = %(worker_id)s"

_PHASES = {
    "queued": ExecutionPhase.QUEUED.value,
    "executing": ExecutionPhase.EXECUTING.value,
    "completed": ExecutionPhase.COMPLETED.value,
}


class _Held:
    """A thread's checked-out connection, its cursor, when it was last used, and by which process."""

    __slots__ = ("cursor", "fairy", "last_used", "pid")

    def __init__(self, fairy: PoolProxiedConnection, cursor: psycopg.Cursor[Any]) -> None:
        self.fairy = fairy
        self.cursor = cursor
        self.last_used = time.monotonic()
        self.pid = os.getpid()


class PgHotPath:
    """create / claim / complete on PostgreSQL through the engine's pooled psycopg connections.

    ``hold``: each thread keeps its connection between statements (a worker process, one job at a
    time); otherwise each statement checks one out and back in (the API's many threads share the pool).
    """

    def __init__(self, engine: Engine, *, hold: bool = False) -> None:
        self.engine = engine
        self.hold = hold
        self._local = threading.local()

    def insert(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """INSERT one job (``values`` by column name; absent columns are NULL); the stored row."""
        row, parameters = insert_parameters(values)
        self._execute(INSERT, parameters, fetch=False)
        return row

    def claim(self, job_id: str, worker_id: str, now: Any) -> dict[str, Any] | None:
        """QUEUED → EXECUTING for ``worker_id``: the row, or None when the job was not QUEUED."""
        params = {"job_id": job_id, "worker_id": worker_id, "now": now, **_PHASES}
        return self._execute(_CLAIM, params, fetch=True)

    def complete(self, job_id: str, worker_id: str | None, now: Any, results: Sequence[Any]) -> bool:
        """EXECUTING → COMPLETED (for ``worker_id`` only, when given); False when it was not EXECUTING."""
        params = {"job_id": job_id, "worker_id": worker_id, "now": now, "results": Jsonb(results), **_PHASES}
        return self._execute(_COMPLETE if worker_id is None else _COMPLETE_OWN, params, fetch=False) is not None

    def release(self) -> None:
        """Hand this thread's held connection back to the pool (a no-op when it holds none)."""
        held: _Held | None = getattr(self._local, "held", None)
        self._local.held = None
        if held is not None and held.pid == os.getpid():
            held.fairy.close()

    def _checkout(self, sql: str, params: Any) -> PoolProxiedConnection:
        try:
            return self.engine.raw_connection()
        except psycopg.Error as exc:
            # The pool, unlike Engine.connect(), hands a failed connect up unwrapped: wrap it as the engine
            # would, so a database that is down is the job service's 503, not a 500.
            raise sa.exc.DBAPIError.instance(sql, params, exc, psycopg.Error, dialect=self.engine.dialect) from exc

    def _held(self, sql: str, params: Any) -> _Held:
        """This thread's connection: kept from its last statement, pinged first when it sat idle."""
        held: _Held | None = getattr(self._local, "held", None)
        if held is not None and held.pid != os.getpid():
            held = None  # a forked child must not use (nor close) its parent's socket
        if held is not None and time.monotonic() - held.last_used >= PING_AFTER_IDLE:
            try:
                connection = held.fairy.dbapi_connection
                assert connection is not None
                self.engine.dialect.do_ping(connection)
            except Exception:
                # Dead while idle (a server restart): drop it; the pool replaces it, as on a checkout ping.
                self._local.held = None
                held.fairy.invalidate()
                held.fairy.close()
                held = None
        if held is None:
            fairy = self._checkout(sql, params)
            conn = fairy.driver_connection
            assert isinstance(conn, psycopg.Connection)
            held = _Held(fairy, conn.cursor())
            self._local.held = held
        return held

    def _execute(self, sql: str, params: Any, *, fetch: bool) -> dict[str, Any] | None:
        """Run ``sql``; with ``fetch`` its one returned row by column name, else {} when it changed a row."""
        held = self._held(sql, params) if self.hold else None
        fairy = held.fairy if held is not None else self._checkout(sql, params)
        ok = False
        try:
            conn = fairy.driver_connection
            assert isinstance(conn, psycopg.Connection)
            try:
                cursor = held.cursor if held is not None else conn.cursor()
                cursor.execute(sql, params)
                if fetch:
                    row = cursor.fetchone()
                    found = dict(zip(COLUMNS, row, strict=True)) if row is not None else None
                else:
                    found = {} if cursor.rowcount == 1 else None
                if not conn.autocommit:  # the engine's connections are autocommit; never leave one open
                    conn.commit()
                ok = True
                return found
            except psycopg.Error as exc:
                invalidated = self.engine.dialect.is_disconnect(exc, fairy, None)  # type: ignore[arg-type]
                if invalidated:
                    # As the engine does: this connection, and every one opened before the failure, go.
                    self.engine.pool._invalidate(fairy, exc)
                raise sa.exc.DBAPIError.instance(
                    sql, params, exc, psycopg.Error, connection_invalidated=invalidated, dialect=self.engine.dialect
                ) from exc
        finally:
            if held is None:
                fairy.close()
            elif ok:
                held.last_used = time.monotonic()
            else:
                # After any failure start again from the pool: the connection may be in an unknown state.
                self.release()


def insert_parameters(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """The row :data:`INSERT` stores for ``values`` (by column name; absent columns are NULL), and its
    statement's parameters."""
    row = {name: values.get(name) for name in COLUMNS}
    return row, [_adapt(name, value) for name, value in row.items()]


def _adapt(name: str, value: Any) -> Any:
    return Jsonb(value) if name in _JSON_COLUMNS else value
