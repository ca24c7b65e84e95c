"""One object store per core settings object, kept (light: the API's input check uses it too).

Creating an S3 client costs tens of milliseconds of CPU (botocore builds its whole model), which a
search job paid up to twice (the API's input check, the split) on top of its own search.
"""

from __future__ import annotations

import threading
from typing import Any

from spt_api.storage import create_object_store

__all__ = ["object_store"]

#: id(settings) → (settings, store): the settings object is kept so that its id is not reused.
_STORES: dict[int, tuple[Any, Any]] = {}
_LOCK = threading.Lock()
#: Settings objects remembered at most (tests make many; a process normally has one).
_MAX = 16


def object_store(settings: Any) -> Any:
    """The object store of ``settings``: created on first use, then the same one (boto3 clients are thread-safe)."""
    with _LOCK:
        found = _STORES.get(id(settings))
        if found is not None and found[0] is settings:
            return found[1]
    store = create_object_store(settings)
    with _LOCK:
        if len(_STORES) >= _MAX:
            _STORES.pop(next(iter(_STORES)))
        _STORES[id(settings)] = (settings, store)
    return store
