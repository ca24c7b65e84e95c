"""The three statements of every job's life on PostgreSQL (create, claim, complete), run on psycopg itself.

SQLAlchemy Core costs a one-row statement four times what psycopg does (its execution
context, result metadata from ``cursor.description``, row mappings): about a quarter of a
millisecond of CPU each, three times a job, on a job that costs a few milliseconds in all.
These three take the pooled connection from the engine (so its checkout ping and its pool
hold) and send fixed SQL with psycopg, which prepares it server-side after a few runs.
Errors are raised as SQLAlchemy's, marked invalidated on a lost connection, exactly as the
engine would: :func:`~spt_api.db.liveness.retry_once_on_disconnect` and the API's 503 see no
difference. SQLite (embedded) keeps the SQLAlchemy path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.types.json import Jsonb
from sqlalchemy.engine import Engine

from spt_api.db.schema import jobs
from spt_api.uws.phases import ExecutionPhase

__all__ = ["COLUMNS", "PgHotPath"]

#: Every column of ``jobs``, in the order the statements below return them.
COLUMNS: tuple[str, ...] = tuple(c.name for c in jobs.c)
_JSON_COLUMNS = frozenset({"parameters", "results"})
_LIST = ", ".join(f'"{name}"' for name in COLUMNS)

# No RETURNING: every column is given (absent ones as NULL), so the stored row is what was sent, and
# reading it back would only cost the loaders of 25 columns.
_INSERT = f"INSERT INTO jobs ({_LIST}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
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


class PgHotPath:
    """create / claim / complete on PostgreSQL through the engine's pooled psycopg connections."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def insert(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """INSERT one job (``values`` by column name; absent columns are NULL); the stored row."""
        row = {name: values.get(name) for name in COLUMNS}
        self._execute(_INSERT, [_adapt(name, value) for name, value in row.items()], fetch=False)
        return row

    def claim(self, job_id: str, worker_id: str, now: Any) -> dict[str, Any] | None:
        """QUEUED → EXECUTING for ``worker_id``: the row, or None when the job was not QUEUED."""
        params = {"job_id": job_id, "worker_id": worker_id, "now": now, **_PHASES}
        return self._execute(_CLAIM, params, fetch=True)

    def complete(self, job_id: str, worker_id: str | None, now: Any, results: Sequence[Any]) -> bool:
        """EXECUTING → COMPLETED (for ``worker_id`` only, when given); False when it was not EXECUTING."""
        params = {"job_id": job_id, "worker_id": worker_id, "now": now, "results": Jsonb(results), **_PHASES}
        return self._execute(_COMPLETE if worker_id is None else _COMPLETE_OWN, params, fetch=False) is not None

    def _execute(self, sql: str, params: Any, *, fetch: bool) -> dict[str, Any] | None:
        """Run ``sql``; with ``fetch`` its one returned row by column name, else {} when it changed a row."""
        try:
            fairy = self.engine.raw_connection()
        except psycopg.Error as exc:
            # The pool, unlike Engine.connect(), hands a failed connect up unwrapped: wrap it as the engine
            # would, so a database that is down is the job service's 503, not a 500.
            raise sa.exc.DBAPIError.instance(
                sql, params, exc, psycopg.Error, dialect=self.engine.dialect
            ) from exc
        try:
            conn = fairy.driver_connection
            assert isinstance(conn, psycopg.Connection)
            try:
                cursor = conn.execute(sql, params)
                if fetch:
                    row = cursor.fetchone()
                    found = dict(zip(COLUMNS, row, strict=True)) if row is not None else None
                else:
                    found = {} if cursor.rowcount == 1 else None
                if not conn.autocommit:  # the engine's connections are autocommit; never leave one open
                    conn.commit()
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
            fairy.close()


def _adapt(name: str, value: Any) -> Any:
    return Jsonb(value) if name in _JSON_COLUMNS else value
