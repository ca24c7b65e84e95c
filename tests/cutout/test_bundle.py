"""Manifests and archives."""

from __future__ import annotations

import csv
import io
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from workers.services.cutout.bundle import MANIFEST_COLUMNS, BundleWriter, ManifestRow, manifest_csv, manifest_json

ROWS = [
    ManifestRow("a", 1.0, -2.0, 150, "f1", "cutouts/a_f1_150GHz.fits", "fits", "ok", "", "CIRCLE 1.0 -2.0 0.1", "m[1]"),
    ManifestRow("a", 1.0, -2.0, 95, "f1", "", "", "nodata", "blank", "CIRCLE 1.0 -2.0 0.1", "m[2]"),
    ManifestRow(
        "b", 3.0, -4.0, 150, "f1", "cutouts/b_f1_150GHz.fits", "fits", "partial", "edge", "CIRCLE 3.0 -4.0 0.1"
    ),
    ManifestRow("c", 5.0, 6.0, None, "", "", "", "outside", "outside every map", "CIRCLE 5.0 6.0 0.1"),
]


def test_manifest_csv() -> None:
    rows = list(csv.DictReader(io.StringIO(manifest_csv(ROWS).decode())))
    assert tuple(rows[0]) == MANIFEST_COLUMNS
    assert MANIFEST_COLUMNS[:8] == ("name", "ra", "dec", "band", "map", "file", "format", "status")
    assert [r["status"] for r in rows] == ["ok", "nodata", "partial", "outside"]
    assert rows[3]["band"] == "" and rows[3]["message"] == "outside every map"
    assert float(rows[0]["ra"]) == 1.0


def test_manifest_json_summary() -> None:
    document = json.loads(manifest_json(ROWS, job_id="j"))
    assert document["job_id"] == "j"
    assert document["columns"] == list(MANIFEST_COLUMNS)
    assert document["summary"] == {
        "positions": 3,
        "positions_by_status": {"ok": 1, "partial": 1, "outside": 1},
        "files": 2,
        "rows_by_status": {"ok": 1, "nodata": 1, "partial": 1, "outside": 1},
    }
    assert document["rows"][3] == {
        "name": "c",
        "ra": 5.0,
        "dec": 6.0,
        "band": None,
        "map": "",
        "file": "",
        "format": "",
        "status": "outside",
        "message": "outside every map",
        "pos": "CIRCLE 5.0 6.0 0.1",
        "hdu": "",
    }


def _members(path: Path, kind: str) -> dict[str, bytes]:
    if kind == "zip":
        with zipfile.ZipFile(path) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    with tarfile.open(path, "r:gz") as archive:
        out: dict[str, bytes] = {}
        for member in archive.getmembers():
            handle: Any = archive.extractfile(member)
            out[member.name] = handle.read()
        return out


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_bundle_writer(tmp_path: Path, kind: Any) -> None:
    path = tmp_path / f"b.{kind}"
    with BundleWriter(path, kind) as bundle:
        assert bundle.add("x.fits", b"F" * 2880) == "cutouts/x.fits"
        bundle.add("x.png", b"\x89PNG")
        bundle.add("manifest.csv", manifest_csv(ROWS))
    assert bundle.mime_type == ("application/gzip" if kind == "tar.gz" else "application/zip")
    members = _members(path, kind)
    assert members == {
        "cutouts/x.fits": b"F" * 2880,
        "cutouts/x.png": b"\x89PNG",
        "cutouts/manifest.csv": manifest_csv(ROWS),
    }
