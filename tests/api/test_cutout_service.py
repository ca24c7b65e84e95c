"""The cutout service through the API on each backend: async jobs (UWS) and SODA sync."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from astropy.io import fits

from tests.support._proc import wait_until
from tests.support.principals import SYSTEM
from tests.support.server import RunningServer


@pytest.fixture(scope="module")
def source(demo_maps: Path) -> dict[str, Any]:
    catalogue = json.loads((demo_maps / "sources.json").read_text())
    return dict(catalogue["sources"][0])


def _download(href: str) -> bytes:
    with httpx.Client(follow_redirects=True, timeout=60) as client:
        response = client.get(href)
    assert response.status_code == 200, response.text
    return response.content


def test_cutout_centred_on_a_source(server: RunningServer, source: dict[str, Any]) -> None:
    job_url = server.create_job(
        "cutout", run=True, POS=f"CIRCLE {source['ra']} {source['dec']} 0.05", band="150", format="fits"
    )
    job = server.wait_final(job_url)
    assert job["phase"] == "COMPLETED", job
    fits_results = [r for r in job["results"] if r["href"].endswith(".fits")]
    assert len(fits_results) == 1
    with fits.open(io.BytesIO(_download(fits_results[0]["href"]))) as hdul:
        data = hdul[0].data
        header = hdul[0].header
    peak_y, peak_x = np.unravel_index(np.nanargmax(data), data.shape)
    centre_y, centre_x = (data.shape[0] - 1) / 2, (data.shape[1] - 1) / 2
    assert abs(peak_x - centre_x) <= 1 and abs(peak_y - centre_y) <= 1
    assert header["BUNIT"]
    assert "CTYPE1" in header


def test_bundle_with_manifest_and_partial_failure(server: RunningServer, source: dict[str, Any]) -> None:
    # Two POS values: one inside a map, one outside every map.
    with server.client() as client:
        job_url = client.post(
            server.jobs_url("cutout"),
            content="&".join(
                [
                    f"POS=CIRCLE+{source['ra']}+{source['dec']}+0.05",
                    "POS=CIRCLE+180+10+0.05",  # outside every map
                    "band=150",
                    "bundle=zip",
                    "PHASE=RUN",
                ]
            ),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ).headers["Location"]
    job = server.wait_final(job_url)
    assert job["phase"] == "COMPLETED", job
    bundle = next(r for r in job["results"] if r["id"] == "bundle")
    with zipfile.ZipFile(io.BytesIO(_download(bundle["href"]))) as archive:
        names = archive.namelist()
        manifest = next(n for n in names if n.endswith("manifest.json"))
        rows = json.loads(archive.read(manifest))
    statuses = json.dumps(rows)
    assert "outside" in statuses
    assert any(n.endswith(".fits") for n in names)


def test_all_positions_outside_ends_in_error(server: RunningServer) -> None:
    job_url = server.create_job("cutout", run=True, POS="CIRCLE 180 10 0.05", band="150")
    job = server.wait_final(job_url)
    assert job["phase"] == "ERROR"
    assert job["errorSummary"]["message"]
    with server.client() as client:
        error = client.get(f"{job_url}/error")
    assert error.status_code == 200
    assert job["errorSummary"]["message"].strip() in error.text


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"POS": "CIRCLE 10 100 0.1"}, "POS"),
        ({"POS": "SQUARE 1 2 3"}, "POS"),
        ({"band": "42", "POS": "CIRCLE 0 -60 0.1"}, "band"),
        ({"format": "jpeg", "POS": "CIRCLE 0 -60 0.1"}, "format"),
    ],
)
def test_bad_cutout_parameters_are_400(server: RunningServer, params: dict[str, str], named: str) -> None:
    with server.client() as client:
        response = client.post(server.jobs_url("cutout"), data=params, headers={"Accept": "application/json"})
    assert response.status_code == 400
    body = response.json()
    assert named.lower() in (body.get("parameter", "") + body["message"]).lower()


def test_soda_sync_returns_fits(server: RunningServer, source: dict[str, Any]) -> None:
    with server.client() as client:
        response = client.get(
            f"{server.api}/cutout/sync", params={"POS": f"CIRCLE {source['ra']} {source['dec']} 0.05", "band": "150"}
        )
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("application/fits")
        with fits.open(io.BytesIO(response.content)) as hdul:
            assert hdul[0].data.ndim == 2
        outside = client.get(f"{server.api}/cutout/sync", params={"POS": "CIRCLE 180 10 0.05"})
        assert outside.status_code == 400
        assert outside.text.startswith("UsageError:")


def test_large_job_fans_out_and_bundles_once(server: RunningServer, demo_maps: Path) -> None:
    """Seven positions with SPT_API_FAN_OUT_CHUNK=3 (the test servers' value): three child jobs, one bundle."""
    sources = json.loads((demo_maps / "sources.json").read_text())["sources"][:7]
    body = "&".join(f"POS=CIRCLE+{s['ra']}+{s['dec']}+0.05" for s in sources) + "&band=150&bundle=zip&PHASE=RUN"
    with server.client() as client:
        job_url = client.post(
            server.jobs_url("cutout"), content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        ).headers["Location"]
    job = server.wait_final(job_url)
    assert job["phase"] == "COMPLETED", job
    children = server.backends.jobs.store.children(SYSTEM, job["jobId"])
    assert len(children) == 3
    assert {r["id"] for r in job["results"]} >= {"bundle", "manifest", "manifest-json"}
    bundle = next(r for r in job["results"] if r["id"] == "bundle")
    with zipfile.ZipFile(io.BytesIO(_download(bundle["href"]))) as archive:
        fits_files = [n for n in archive.namelist() if n.endswith(".fits")]
    assert len(fits_files) == 7


def test_abort_stops_a_fanned_out_job_in_the_abort_request(server: RunningServer, demo_maps: Path) -> None:
    sources = json.loads((demo_maps / "sources.json").read_text())["sources"]
    # 100 child jobs of 3 positions on a pool of 2: minutes of work, aborted once the first child runs.
    positions = [sources[i % len(sources)] for i in range(300)]
    body = "&".join(f"POS=CIRCLE+{s['ra']}+{s['dec']}+0.05" for s in positions)
    body += "&band=95&band=150&band=220&format=both&bundle=zip&PHASE=RUN"
    with server.client() as client:
        job_url = client.post(
            server.jobs_url("cutout"), content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        ).headers["Location"]
        job_id = job_url.rsplit("/", 1)[-1]
        store = server.backends.jobs.store
        # A child's phase is not the parent's, so UWS WAIT on the parent cannot say when one starts.
        wait_until(
            lambda: any(c.phase.value != "QUEUED" for c in store.children(SYSTEM, job_id)),
            timeout=30, what="no child job started", interval=0.1, error=AssertionError,
        )
        assert client.get(f"{job_url}/phase").text == "EXECUTING"
        assert client.post(f"{job_url}/phase", data={"PHASE": "ABORT"}).status_code == 303
        # No timing here (a loaded machine makes any bound flaky): the abort is done by the time its
        # request returns, so the parent and every child are already final at the next read...
        job = client.get(job_url, headers={"Accept": "application/json"}).json()
        assert job["phase"] == "ABORTED"
        phases = [c.phase.value for c in store.children(SYSTEM, job_id)]
        assert len(phases) == 100
        assert all(phase in ("ABORTED", "COMPLETED", "ERROR") for phase in phases), phases
        # ...and it stopped the minutes of queued work instead of letting it run out.
        assert phases.count("ABORTED") > phases.count("COMPLETED"), phases
