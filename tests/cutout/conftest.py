"""Fixtures of the cutout tests: small demo maps made once per session, and a fake job context."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from spt_api.config import Settings
from workers.services.cutout.catalogue import Catalogue
from workers.services.cutout.demo import SOURCES_NAME
from workers.services.cutout.maps import load_catalogue


@dataclass
class Result:
    name: str
    path: Path
    mime_type: str | None
    result_id: str


@dataclass
class FakeContext:
    """A test double of the job machinery's JobContext, writing into a temporary directory.

    ``abort_after``: ``is_aborted()`` turns true on its n-th call (n = abort_after + 1),
    i.e. after ``abort_after`` positions were started.
    """

    workdir: Path
    job_id: str = "test-job"
    abort_after: int | None = None
    results: dict[str, Result] = field(default_factory=dict)
    progress_calls: list[tuple[int, int, str]] = field(default_factory=list)
    abort_checks: int = 0
    #: The core settings and the cutout's own, as the worker gives them (from the environment by default).
    settings: Any = field(default_factory=Settings)
    service_settings: Any = None

    def progress(self, done: int, total: int, message: str = "") -> None:
        self.progress_calls.append((done, total, message))

    def add_result(
        self, name: str, data: bytes | Path, mime_type: str | None = None, *, result_id: str | None = None
    ) -> str:
        rid = result_id or name
        assert rid not in self.results, f"result id {rid!r} added twice"
        stored = self.workdir / "stored" / rid
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_bytes(data if isinstance(data, bytes) else Path(data).read_bytes())
        self.results[rid] = Result(name, stored, mime_type, rid)
        return rid

    def is_aborted(self) -> bool:
        self.abort_checks += 1
        return self.abort_after is not None and self.abort_checks > self.abort_after


@pytest.fixture(scope="session")
def maps_dir(demo_maps: Path) -> Path:
    """The session's demo maps (tests/conftest.py), made once; cutout tests only read them."""
    return demo_maps


@pytest.fixture(scope="session")
def demo(maps_dir: Path) -> dict[str, Any]:
    """The content of ``sources.json``."""
    document: dict[str, Any] = json.loads((maps_dir / SOURCES_NAME).read_text())
    return document


@pytest.fixture(scope="session")
def sources(demo: dict[str, Any]) -> list[dict[str, Any]]:
    return list(demo["sources"])


@pytest.fixture(scope="session")
def catalogue(maps_dir: Path) -> Catalogue:
    return load_catalogue(maps_dir, build_if_missing=False)


@pytest.fixture
def make_ctx(tmp_path: Path) -> Callable[..., FakeContext]:
    counter = iter(range(1_000_000))

    def make(**kwargs: Any) -> FakeContext:
        workdir = tmp_path / f"job{next(counter)}"
        workdir.mkdir()
        return FakeContext(workdir=workdir, **kwargs)

    return make
