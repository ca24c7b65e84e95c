"""Input files by reference: where an ``InputFile`` parameter's value points, and reading it.

A reference is ``s3://bucket/key`` or a key in the configured object store (``inputs/<job id>/data.npy``
for an upload). Which references a job may take is decided at submission by :mod:`spt_api.input_access`;
both the API (the light ``check_inputs`` of a service, through :class:`StoredInputs` as its
``InputReader``) and the workers (``ctx.input_path``/``ctx.open_input``) resolve references here.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

from spt_api.storage.base import ObjectStore
from spt_api.storage.factory import s3_object_store
from spt_api.uws.errors import UsageError

__all__ = ["StoredInputs", "check_ref_syntax", "no_input"]

#: Bytes of an input's start read by :meth:`StoredInputs.check` and kept for the service's check: one
#: ranged GET both proves the object readable and serves its header (a HEAD, then a HEAD and a GET for the
#: header, cost three requests). Any .npy header fits (numpy writes a few hundred bytes, at most 64 KiB).
HEAD_BYTES = 1 << 16

#: Input heads read at once by one API process (:meth:`StoredInputs.begin_check`).
READ_THREADS = 4

_POOL: tuple[int, ThreadPoolExecutor] | None = None
_POOL_LOCK = threading.Lock()


def _reads() -> ThreadPoolExecutor:
    """This process's threads for input reads (made on first use, again after a fork)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL[0] != os.getpid():
            _POOL = (os.getpid(), ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="input-head"))
        return _POOL[1]


#: An S3 bucket name (lower case, digits, dots and hyphens, 3 to 63 characters).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def no_input(ref: str, parameter: str, settings: Any) -> UsageError:
    """The one answer for a missing input and for one the caller may not read: they must not differ."""
    shared = getattr(settings, "input_shared_prefix_list", ())
    also = f", or name an object under {', '.join(shared)}" if shared else ""
    return UsageError(
        f"parameter {parameter!r}: no stored input {ref[:200]!r} that you may read: upload the file, name "
        f"an upload of one of your jobs (inputs/<job id>/<file name>){also}",
        parameter=parameter,
    )


def _bad_key(key: str) -> bool:
    parts = key.replace("\\", "/").split("/")
    return key.startswith("/") or any(part in ("", ".", "..") for part in parts)


def check_ref_syntax(ref: str, parameter: str) -> None:
    """Refuse a reference that is neither ``s3://bucket/key`` nor a plain relative key."""
    parsed = urlparse(ref)
    if parsed.scheme == "s3":
        key = parsed.path[1:]
        if not _BUCKET.match(parsed.netloc) or not key or _bad_key(key) or parsed.query or parsed.fragment:
            raise UsageError(
                f"parameter {parameter!r}: {ref[:200]!r} is not of the form s3://bucket/key", parameter=parameter
            )
        return
    if parsed.scheme or "://" in ref:
        raise UsageError(
            f"parameter {parameter!r}: unsupported reference {ref[:200]!r}; upload the file, "
            "or name an object as s3://bucket/key or by its key in the store",
            parameter=parameter,
        )
    if _bad_key(ref):
        raise UsageError(f"parameter {parameter!r}: {ref[:200]!r} is not a valid storage key", parameter=parameter)


class StoredInputs:
    """Reads input files by reference: the :class:`~spt_api.services.InputReader` of the API's check."""

    def __init__(
        self,
        objects: ObjectStore,
        settings: Any,
        service_settings: Any = None,
        workers: Callable[[], list[Any]] | None = None,
    ) -> None:
        self.objects = objects
        self.settings = settings
        self.service_settings = service_settings
        self._workers = workers
        self._buckets: dict[str, ObjectStore] = {}
        self._lock = threading.Lock()
        #: ref → its first bytes (at most HEAD_BYTES), read by check() or given by remember().
        self._heads: dict[str, bytes] = {}
        #: ref → the read begin_check() started, judged by check().
        self._pending: dict[str, Future[bytes]] = {}

    def workers(self) -> list[Any]:
        return self._workers() if self._workers is not None else []

    def _bucket(self, bucket: str) -> ObjectStore:
        with self._lock:
            store = self._buckets.get(bucket)
            if store is None:
                store = s3_object_store(self.settings, bucket)
                self._buckets[bucket] = store
        return store

    def locate(self, ref: str, parameter: str = "input") -> tuple[ObjectStore, str]:
        """The store holding ``ref`` and its key there."""
        check_ref_syntax(ref, parameter)
        parsed = urlparse(ref)
        if parsed.scheme == "s3":
            return self._bucket(parsed.netloc), parsed.path.lstrip("/")
        return self.objects, ref

    def check(self, ref: str, parameter: str) -> None:
        """400 naming ``parameter`` unless ``ref`` names an object that exists and can be read (the answer
        to a missing one is :func:`no_input`'s)."""
        store, key = self.locate(ref, parameter)
        pending = self._pending.pop(ref, None)
        try:
            self._heads[ref] = pending.result() if pending is not None else store.read_head(key, HEAD_BYTES)
            found = True
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, ValueError):
            found = False
        except Exception as exc:  # S3 refused (403) or unreachable bucket: the reference is unusable
            raise UsageError(
                f"parameter {parameter!r}: the input {ref[:200]!r} cannot be read ({type(exc).__name__}: {exc})",
                parameter=parameter,
            ) from exc
        if not found:
            raise no_input(ref, parameter, self.settings)

    def begin_check(self, ref: str, parameter: str) -> None:
        """Start :meth:`check`'s read of ``ref`` in the background (a malformed reference is refused now):
        the service's check runs meanwhile, its :meth:`head` waiting for the read; :meth:`check` judges it."""
        store, key = self.locate(ref, parameter)
        self._pending[ref] = _reads().submit(store.read_head, key, HEAD_BYTES)

    def remember(self, ref: str, data: bytes) -> None:
        """``ref`` starts with ``data`` (an upload just stored): its head is read from here."""
        self._heads[ref] = data[:HEAD_BYTES]

    def head(self, ref: str, n: int) -> bytes:
        pending = self._pending.get(ref)
        if pending is not None and pending.exception() is None:  # waits for it; a failed one is read again below
            self._heads[ref] = pending.result()
        known = self._heads.get(ref)
        # What check() read serves when it holds n bytes, or the whole object (shorter than HEAD_BYTES).
        if known is not None and (n <= len(known) or len(known) < HEAD_BYTES):
            return known[:n]
        store, key = self.locate(ref)
        return store.read_head(key, n)

    def size(self, ref: str) -> int:
        store, key = self.locate(ref)
        return store.size(key)

    def open(self, ref: str) -> IO[bytes]:
        store, key = self.locate(ref)
        return store.open_read(key)

    def local_path(self, ref: str) -> Path | None:
        store, key = self.locate(ref)
        return store.local_path(key)

    def download(self, ref: str, destination: Path) -> Path:
        """Copy the input into ``destination`` (a file path) and return it."""
        store, key = self.locate(ref)
        destination.parent.mkdir(parents=True, exist_ok=True)
        with destination.open("wb") as handle:
            for chunk in store.read_chunks(key, 8 << 20):
                handle.write(chunk)
        return destination
