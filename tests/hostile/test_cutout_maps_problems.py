"""The cutout service's maps go wrong under a running server: answers say so, never 500.

A missing map catalogue or a map file changed on disk since it was indexed is the deployment's
problem, not the request's: the SODA sync answers 503 with the same message an async job gets as its
error summary, and ``/health`` names the missing catalogue (a degraded service, while the core
backends, and so readiness, stay fine).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import cutout_maps, embedded_settings
from tests.support.server import RunningServer, start_server
from workers.services.cutout.settings import CutoutSettings

JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def source(demo_maps: Path) -> dict[str, Any]:
    return dict(json.loads((demo_maps / "sources.json").read_text())["sources"][0])


def _server(data_dir: Path, maps: Path) -> tuple[RunningServer, Any]:
    return start_server(embedded_settings(data_dir, service_settings=cutout_maps(maps), embedded_pool_size=1))


@pytest.fixture
def no_catalogue(tmp_path: Path) -> Iterator[tuple[RunningServer, Path]]:
    maps = tmp_path / "maps-not-mounted"  # a volume that was never mounted: no directory, no catalogue
    running, stop = _server(tmp_path / "api", maps)
    yield running, maps
    stop()


@pytest.fixture
def changed_maps(tmp_path: Path, demo_maps: Path) -> Iterator[RunningServer]:
    maps = tmp_path / "maps"
    shutil.copytree(demo_maps, maps)
    # Rewritten after indexing (a reprocessed map copied over the old one): the catalogue's grid may lie.
    for path in maps.glob("*.fits"):
        with path.open("ab") as handle:
            handle.write(b"\0" * 2880)
    running, stop = _server(tmp_path / "api", maps)
    yield running
    stop()


def _sync(server: RunningServer, source: dict[str, Any], **headers: str) -> httpx.Response:
    with server.client() as client:
        return client.get(
            f"{server.api}/cutout/sync",
            params={"POS": f"CIRCLE {source['ra']} {source['dec']} 0.05", "band": "150"},
            headers=headers,
        )


def test_missing_catalogue_sync_is_503_with_the_jobs_message(
    no_catalogue: tuple[RunningServer, Path], source: dict[str, Any]
) -> None:
    server, maps = no_catalogue
    response = _sync(server, source, **JSON)
    assert response.status_code == 503, (response.status_code, response.text)
    body = response.json()
    assert "no map catalogue" in body["message"] and str(maps) in body["message"], body
    assert response.headers["Retry-After"]

    job = server.wait_final(server.create_job("cutout", run=True, POS=f"CIRCLE {source['ra']} {source['dec']} 0.05"))
    assert job["phase"] == "ERROR", job
    assert job["errorSummary"]["message"] == body["message"], (job["errorSummary"], body)

    plain = _sync(server, source)
    assert plain.status_code == 503 and plain.text == f"Error: {body['message']}\n"


def test_health_names_the_missing_catalogue_and_stays_ready(no_catalogue: tuple[RunningServer, Path]) -> None:
    server, maps = no_catalogue
    with server.client() as client:
        response = client.get("/health")
    # The core backends are fine and the other services still work: readiness holds (200), and the
    # cutout service is reported failing with what is wrong.
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "degraded", body
    cutout = body["components"]["service:cutout"]
    assert cutout["status"] == "fail", body
    assert "no map catalogue" in cutout["message"] and str(maps) in cutout["message"], body
    assert all(c["status"] == "ok" for name, c in body["components"].items() if not name.startswith("service:"))


def test_health_is_ok_with_the_demo_maps(tmp_path: Path, demo_maps: Path) -> None:
    running, stop = _server(tmp_path / "api", demo_maps)
    try:
        with running.client() as client:
            body = client.get("/health").json()
    finally:
        stop()
    assert body["status"] == "ok", body
    assert body["components"]["service:cutout"] == {"status": "ok"}, body


def test_changed_map_file_sync_is_503_not_500(changed_maps: RunningServer, source: dict[str, Any]) -> None:
    response = _sync(changed_maps, source, **JSON)
    assert response.status_code == 503, (response.status_code, response.text)
    assert "changed since it was indexed" in response.json()["message"], response.text


def test_the_health_hook_names_the_catalogue_as_the_service_does() -> None:
    from workers.services.cutout import catalogue, health

    assert health.CATALOGUE_NAME == catalogue.CATALOGUE_NAME


def test_the_health_hook_stays_light(tmp_path: Path) -> None:
    """The API process runs the hook: it must not load astropy (seconds of import, hundreds of MiB)."""
    code = (
        "import sys\n"
        "from spt_api.config import Settings\n"
        "from workers.services.cutout.params import SERVICE\n"
        f"settings = Settings(data_dir={str(tmp_path)!r})\n"
        "problems = SERVICE.load_health()(settings, SERVICE.settings_for(settings))\n"
        "assert problems and 'no map catalogue' in problems[0], problems\n"
        "heavy = sorted(m for m in ('astropy', 'numpy', 'matplotlib') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.services
def test_the_health_hook_finds_the_catalogue_on_s3(tmp_path: Path) -> None:
    from spt_api.config import Settings
    from tests.support.s3server import SeaweedS3
    from workers.services.cutout.health import health

    with SeaweedS3(bucket="spt-maps-health") as s3:
        settings = Settings(
            data_dir=tmp_path,
            s3_endpoint_url=s3.endpoint_url,
            s3_access_key_id=s3.access_key,
            s3_secret_access_key=s3.secret_key,
        )
        cutout = CutoutSettings(maps_url=f"s3://{s3.bucket}/maps")
        problems = health(settings, cutout)
        assert problems == [f"no map catalogue at s3://{s3.bucket}/maps/catalogue.json: "
                            f"run 'spt-api maps index s3://{s3.bucket}/maps'"], problems
        # Maps but no catalogue yet: the first job indexes them, so nothing is wrong.
        s3.client().put_object(Bucket=s3.bucket, Key="maps/a.fits", Body=b"x")
        assert health(settings, cutout) == []
        s3.client().put_object(Bucket=s3.bucket, Key="maps/catalogue.json", Body=b"{}")
        assert health(settings, cutout) == []
        s3.stop()
        problems = health(settings, cutout)
        assert len(problems) == 1 and problems[0].startswith(f"cannot read the maps at s3://{s3.bucket}/maps"), problems
