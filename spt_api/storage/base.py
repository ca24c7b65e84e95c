"""The object store interface and the rules for object keys."""

from __future__ import annotations

import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import IO

from spt_api.storage.health import StorageHealth

__all__ = ["ObjectStore", "result_key", "safe_name"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """Result names are data, not paths: keep a safe file name (no separators, no dot-dot)."""
    cleaned = _UNSAFE.sub("_", name).strip("._") or "result"
    return cleaned[:128]


def result_key(service: str, job_id: str, name: str) -> str:
    return f"{safe_name(service)}/{safe_name(job_id)}/{safe_name(name)}"


class ObjectStore(ABC):
    """Where job results live. Keys are ``service/job_id/name`` (see :func:`result_key`)."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, mime_type: str | None = None) -> int:
        """Store ``data`` under ``key``; return its size."""

    @abstractmethod
    def put_file(self, key: str, path: Path, mime_type: str | None = None) -> int:
        """Store the file at ``path`` under ``key`` (multipart for large files); return its size."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def read_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The object's bytes, in chunks (raises FileNotFoundError)."""

    def size(self, key: str) -> int:
        """The object's size in bytes (raises FileNotFoundError)."""
        return sum(len(chunk) for chunk in self.read_chunks(key))

    def read_head(self, key: str, n: int) -> bytes:
        """The object's first ``n`` bytes, fewer when it is shorter (raises FileNotFoundError).

        This default reads them through :meth:`open_read`; S3 asks for them in one ranged GET."""
        with self.open_read(key) as handle:
            return handle.read(n)

    def open_read(self, key: str) -> IO[bytes]:
        """A seekable binary file object reading the object (raises FileNotFoundError); close it after use.

        This default copies the object into a temporary file; the stores read in place (a local file,
        ranged GETs on S3)."""
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, who closes it
        for chunk in self.read_chunks(key):
            spool.write(chunk)
        spool.seek(0)
        return spool

    def local_path(self, key: str) -> Path | None:
        """The object's own file when the store is a local directory, else None."""
        return None

    def copy(self, source: str, key: str) -> None:
        """Copy the object ``source`` to ``key`` in this store (raises FileNotFoundError).

        This default goes through a temporary file; the stores copy in place (a hard link on a local
        directory, a server-side copy on S3)."""
        with tempfile.NamedTemporaryFile() as spool:
            for chunk in self.read_chunks(source):
                spool.write(chunk)
            spool.flush()
            self.put_file(key, Path(spool.name))

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``; return how many."""

    def list_keys(self, prefix: str) -> list[str]:
        """The keys of every object under ``prefix`` (a key prefix), sorted."""
        raise NotImplementedError(f"{type(self).__name__} cannot list its objects")

    @abstractmethod
    def signed_url(self, key: str, lifetime: int, filename: str | None = None) -> str | None:
        """A time-limited URL the client can fetch directly, or None when the API must serve it."""

    @abstractmethod
    def check(self) -> None:
        """Raise if the store cannot be reached (readiness)."""

    @cached_property
    def health(self) -> StorageHealth:
        """The store's last known health (:meth:`check`, at most every few seconds), for request handlers."""
        return StorageHealth(self.check)
