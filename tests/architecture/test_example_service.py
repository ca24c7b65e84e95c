"""The worked example of docs/services.md: a service is one folder plus one entry-point line.

The test installs nothing and changes no file under spt_api/: it puts the example's
folder on the path beside a distribution whose metadata holds the one entry-point
line, as ``pip install`` would, and the whole API serves the new service.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from spt_api.services import ServiceRegistry
from spt_api.testing import start_server_thread
from tests.api.uws_helpers import JSON, wait_until_final
from tests.conftest import embedded_settings

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
#: The one line a service adds to its package's setup.cfg, under [options.entry_points] spt_api.services.
ENTRY_POINT = "wordcount = wordcount_service.params:SERVICE"


@pytest.fixture
def installed_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    dist = tmp_path / "site" / "spt_wordcount-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: spt-wordcount\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[spt_api.services]\n{ENTRY_POINT}\n")
    # Both on sys.path: the embedded pool's spawned processes inherit it, as they would an install.
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.syspath_prepend(str(EXAMPLES))
    yield


def test_the_registry_finds_the_example_by_its_entry_point(installed_example: None) -> None:
    registry = ServiceRegistry.from_entry_points()
    assert {"cutout", "echo", "wordcount"} <= set(registry)
    assert registry["wordcount"].queues == ("wordcount",)
    assert ServiceRegistry.from_entry_points(["wordcount"]).keys() == {"wordcount"}


def test_the_example_service_runs_end_to_end(installed_example: None, tmp_path: Path) -> None:
    server = start_server_thread(embedded_settings(tmp_path / "data", services="wordcount,echo"))
    try:
        with httpx.Client(base_url=server.base_url, timeout=30, follow_redirects=False) as client:
            listed = client.get("/api/services", headers=JSON).json()
            assert "wordcount" in json.dumps(listed)
            assert "/api/wordcount/jobs" in client.get("/api/openapi.json").json()["paths"]
            bad = client.post("/api/wordcount/jobs", data={"top": "0", "text": "x"}, headers=JSON)
            assert bad.status_code == 400 and bad.json()["parameter"] == "top"
            created = client.post("/api/wordcount/jobs", data={"text": "to be or not to be", "top": "2",
                                                              "PHASE": "RUN"})
            assert created.status_code == 303
            job = wait_until_final(client, created.headers["Location"], 30)
            assert job["phase"] == "COMPLETED", job
            result = client.get(f"{created.headers['Location']}/results/counts", follow_redirects=True)
            assert result.json() == {"to": 2, "be": 2}
            # Not enabled by SPT_API_SERVICES: not served.
            assert client.get("/api/cutout/jobs").status_code == 404
    finally:
        server.stop()
