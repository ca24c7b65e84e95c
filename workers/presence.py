"""A worker process in the live worker registry: its capabilities, its registration and its beat.

Capabilities (``workers.capabilities``) come from ``SPT_API_WORKER_CAPABILITIES``, else they are
detected. Jobs are placed by them
(a model's requirements must be a subset), and ``GET /api/models`` shows which servers can serve what.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

from spt_api.uws.models import utcnow
from spt_api.uws.principal import Principal
from spt_api.uws.workers import WorkerInfo

__all__ = ["PRESENCE", "WorkerPresence"]

log = logging.getLogger(__name__)

#: Who registers and beats: the system.
PRESENCE = Principal.system_actor("worker-registry")


class WorkerPresence:
    """Registers one worker in the registry and beats every ``interval`` seconds until :meth:`stop`."""

    def __init__(
        self,
        store: Any,
        worker_id: str,
        queues: Iterable[str],
        capabilities: Iterable[str],
        interval: float,
        extra: Callable[[], dict[str, Any] | None] | None = None,
    ) -> None:
        self.store = store
        self.info = WorkerInfo(
            worker_id=worker_id,
            hostname=socket.gethostname(),
            queues=tuple(queues),
            capabilities=frozenset(capabilities),
            started=utcnow(),
        )
        self.interval = interval
        self._extra = extra
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> WorkerPresence:
        self._register()
        self._thread = threading.Thread(target=self._run, name="worker-presence", daemon=True)
        self._thread.start()
        return self

    def _register(self) -> None:
        try:
            self.store.register_worker(PRESENCE, self.info)
            log.info(
                "worker registered: queues %s, capabilities %s",
                ",".join(self.info.queues), ",".join(sorted(self.info.capabilities)),
            )
        except Exception as exc:  # the database may be down at start; the next beat registers
            log.warning("worker not registered (will retry): %s", exc)

    def beat(self) -> None:
        try:
            extra = self._extra() if self._extra is not None else None
            if not self.store.beat_worker(PRESENCE, self.info.worker_id, extra):
                self._register()  # forgotten meanwhile, or never registered: register again
        except Exception as exc:  # a database blip must not stop the worker
            log.warning("worker heartbeat failed: %s", exc)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.store.remove_worker(PRESENCE, self.info.worker_id)
        except Exception as exc:
            log.warning("worker not removed from the registry: %s", exc)
