"""A daemon thread that belongs to one process: started when first needed, and again in a forked child.

A forked process (a Celery prefork pool process) inherits the parent's objects but none of its threads;
an object that relies on a thread of its own starts it anew there, and after it died.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

__all__ = ["ProcessThread"]


class ProcessThread:
    """Runs ``target`` in a daemon thread named ``name``, started by :meth:`ensure`."""

    def __init__(self, target: Callable[[], object], name: str) -> None:
        self._target = target
        self._name = name
        self._thread: threading.Thread | None = None
        self._owner_pid = 0

    def ensure(self) -> None:
        """Start the thread unless this process's is alive (the caller serializes calls, under its lock)."""
        if self._thread is not None and self._owner_pid == os.getpid() and self._thread.is_alive():
            return
        self._owner_pid = os.getpid()
        self._thread = threading.Thread(target=self._target, daemon=True, name=self._name)
        self._thread.start()
