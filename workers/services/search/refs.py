"""Input references: ``s3://bucket/key`` or a key of the configured object store (light).

A job reads its file with ``ctx.input_path``; where there is no job context (``/api/indexes*``, the
split, the sync search) the object's key is found with :func:`storage_key` and its header read with :func:`head`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from spt_api.services import UsageError

__all__ = ["head", "storage_key"]


def storage_key(ref: str, settings: Any, parameter: str) -> str:
    """The object-store key of ``ref``; a reference outside the configured store is a UsageError."""
    ref = ref.strip()
    if ref.startswith("s3://"):
        bucket, _, key = ref[5:].partition("/")
        store = urlparse(settings.effective_storage_url)
        if store.scheme != "s3" or bucket != store.netloc:
            raise UsageError(f"{parameter}: {ref[:200]!r} is not in this service's bucket", parameter=parameter)
        store_prefix = store.path.strip("/")
        if store_prefix and key.startswith(store_prefix + "/"):
            key = key[len(store_prefix) + 1 :]
        ref = key
    if not ref or ref.startswith("/") or ".." in ref.split("/"):
        raise UsageError(f"{parameter}: {ref[:200]!r} is not a storage reference", parameter=parameter)
    return ref


def head(storage: Any, ref: str, settings: Any, parameter: str, size: int = 4096) -> bytes:
    """The first ``size`` bytes of the referenced object (fewer when it is smaller)."""
    key = storage_key(ref, settings, parameter)
    try:
        head: bytes = storage.read_head(key, size)
    except FileNotFoundError:
        raise UsageError(f"{parameter}: no stored file {ref[:200]!r}", parameter=parameter) from None
    return head
