"""Results in a local directory (embedded mode); the API streams them itself."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from spt_api.storage.base import ObjectStore

__all__ = ["LocalObjectStore"]


class LocalObjectStore(ObjectStore):
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._root = str(self.root)
        self._prefix = os.path.join(self._root, "")

    def _path(self, key: str) -> Path:
        return Path(self._name(key))

    def _name(self, key: str) -> str:
        # Lexical: ".." and absolute keys are caught without a stat of every directory on the way
        # (resolve() made a job's result write cost twice its own syscalls); only the store itself
        # writes under its root, so no link there leads out of it.
        name = os.path.normpath(os.path.join(self._root, key))
        if name != self._root and not name.startswith(self._prefix):
            raise ValueError(f"key escapes the store: {key!r}")
        return name

    def put_bytes(self, key: str, data: bytes, mime_type: str | None = None) -> int:
        name = self._name(key)
        os.makedirs(os.path.dirname(name), exist_ok=True)
        tmp = name + ".part"
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, name)  # readers never see half a file
        return len(data)

    def put_file(self, key: str, path: Path, mime_type: str | None = None) -> int:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)
        return target.stat().st_size

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def read_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        with self._path(key).open("rb") as handle:
            while chunk := handle.read(chunk_size):
                yield chunk

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def open_read(self, key: str) -> IO[bytes]:
        return self._path(key).open("rb")

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None

    def delete_prefix(self, prefix: str) -> int:
        path = self._path(prefix)
        if path.is_dir():
            count = sum(1 for p in path.rglob("*") if p.is_file())
            shutil.rmtree(path, ignore_errors=True)
            return count
        if path.is_file():
            path.unlink()
            return 1
        return 0

    def list_keys(self, prefix: str) -> list[str]:
        start = self._path(prefix) if prefix.endswith("/") or not prefix else self._path(prefix).parent
        if not start.is_dir():
            return []
        keys = (p.relative_to(self.root).as_posix() for p in start.rglob("*") if p.is_file())
        # A ".part" file is an object still being written (put_bytes, put_file): not there yet.
        return sorted(k for k in keys if k.startswith(prefix) and not k.endswith(".part"))

    def signed_url(self, key: str, lifetime: int, filename: str | None = None) -> str | None:
        return None

    def check(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise OSError(f"result directory {self.root} is not writable")

    def copy(self, source: str, key: str) -> None:
        # A hard link: no bytes copied, and each key is deleted on its own (objects are replaced, never
        # written in place, so the two names never see each other's changes). Another file system: a copy.
        path = self._path(source)
        if not path.is_file():
            raise FileNotFoundError(source)
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        tmp.unlink(missing_ok=True)
        try:
            os.link(path, tmp)
        except OSError:
            shutil.copyfile(path, tmp)
        os.replace(tmp, target)
