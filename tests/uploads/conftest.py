"""The ``filecopy`` test service, installed for these tests as ``pip install`` would (an entry point)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def filecopy_installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    site = tmp_path_factory.mktemp("site")
    dist = site / "spt_filecopy-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: spt-filecopy\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[spt_api.services]\nfilecopy = filecopy_service.params:SERVICE\n")
    # On sys.path, so the embedded pool's spawned processes find it too.
    added = [str(site), str(HERE)]
    sys.path[:0] = added
    try:
        yield
    finally:
        for entry in added:
            sys.path.remove(entry)
