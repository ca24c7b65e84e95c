"""Pessimistic disconnect handling that costs nothing on a busy pool.

SQLAlchemy's ``pool_pre_ping`` sends ``SELECT 1`` on every checkout: one more
round trip for every statement, a fifth of a worker's time on a short job. A
connection used a moment ago is alive with near certainty, so only one that has
sat idle longer than :data:`PING_AFTER_IDLE` is pinged. A connection that died
meanwhile anyway (the server restarted under load) fails its statement once; the
pool then discards every connection opened before the failure, and
:func:`retry_once_on_disconnect` runs the store method again on a fresh one.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

__all__ = ["PING_AFTER_IDLE", "ping_idle_connections", "retry_once_on_disconnect"]

P = ParamSpec("P")
R = TypeVar("R")

#: Seconds a pooled connection may sit unused before its next checkout pings it.
PING_AFTER_IDLE = 1.0

_LAST_USED = "spt_last_used"


def ping_idle_connections(engine: Engine) -> None:
    """Ping a connection on checkout when it has been idle; a dead one is replaced transparently."""

    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        last_used = record.info.get(_LAST_USED)
        if last_used is None or time.monotonic() - last_used < PING_AFTER_IDLE:
            return
        try:
            # The dialect's own ping, as pool_pre_ping does it (it leaves no transaction open).
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and checks out another (up to three tries).
            raise sa.exc.DisconnectionError(f"stale pooled connection: {exc}") from exc

    def on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_LAST_USED] = time.monotonic()

    sa.event.listen(engine, "checkout", on_checkout)
    sa.event.listen(engine, "checkin", on_checkin)


def retry_once_on_disconnect(method: Callable[P, R]) -> Callable[P, R]:
    """Run a store method again when its connection turned out dead.

    Only for methods that may run twice: one statement that is a read, a conditional update or an
    idempotent write. The pool has by then dropped every connection older than the failure, so the
    second try gets a fresh one; a database that is really down fails it too.
    """

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except sa.exc.DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            return method(*args, **kwargs)

    return wrapper
