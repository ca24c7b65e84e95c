"""The map catalogue: building the index beside the maps and matching positions to HDUs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from astropy.io import fits

from spt_api.services.errors import FatalJobError
from workers.services.cutout.bands import parse_band_value
from workers.services.cutout.catalogue import CATALOGUE_NAME, Catalogue
from workers.services.cutout.maps import build_catalogue, load_catalogue


def test_catalogue_layout(maps_dir: Path) -> None:
    document = json.loads((maps_dir / CATALOGUE_NAME).read_text())
    assert document["format"] == "spt-api-map-catalogue"
    assert document["version"] == 1
    assert document["skipped"] == []
    entries = document["entries"]
    assert len(entries) == 9  # 3 fields x 3 bands
    expected = {
        "file",
        "hdu",
        "band",
        "map",
        "field",
        "release",
        "bunit",
        "projection",
        "shape",
        "wcs",
        "center",
        "radius",
        "bbox",
        "footprint",
        "pixel_scale_arcmin",
        "extname",
        "size",
        "mtime",
    }
    assert all(expected <= set(e) for e in entries)
    assert {e["projection"] for e in entries} == {"ZEA", "CAR"}
    assert {e["band"] for e in entries} == {95, 150, 220}
    assert {e["bunit"] for e in entries} == {"uK"}
    assert {(e["map"], e["band"]) for e in entries} == {
        (f, b) for f in ("ra0hdec-59.75", "ra0hdec-44.75", "ra5hdec-29.75") for b in (95, 150, 220)
    }
    mef = [e for e in entries if e["file"] == "spt3g_ra0hdec-59.75.fits"]
    assert sorted(e["hdu"] for e in mef) == [1, 2, 3]


def test_footprint_across_ra_zero(catalogue: Catalogue) -> None:
    entry = next(e for e in catalogue.entries if e.map == "ra0hdec-59.75")
    ra_min, ra_max, dec_min, dec_max = entry.bbox
    assert ra_min > 350 and ra_max < 10  # a wrapped range
    assert dec_min < -62 < -57.5 < dec_max
    assert len(entry.footprint) == 64


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (150, 150),
        ("150GHz", 150),
        ("f090", 95),
        ("95", 95),
        (1.5e11, 150),
        ("220 GHz", 220),
        (93.5, 95),
        ("150000 MHz", 150),
        (30, 30),
        ("none", None),
        (True, None),
        (None, None),
    ],
)
def test_band_values(value: Any, band: int | None) -> None:
    assert parse_band_value(value) == band


def test_match_source(catalogue: Catalogue, sources: list[dict[str, Any]]) -> None:
    for source in sources:
        found = catalogue.match(source["ra"], source["dec"], 0.05)
        assert {e.map for e in found} == {source["field"]}
        assert sorted(e.band for e in found) == [95, 150, 220]


def test_match_filters(catalogue: Catalogue, sources: list[dict[str, Any]]) -> None:
    source = next(s for s in sources if s["field"] == "ra0hdec-44.75")
    ra, dec = source["ra"], source["dec"]
    assert [e.band for e in catalogue.match(ra, dec, 0.05, bands=[150])] == [150]
    assert [e.band for e in catalogue.match(ra, dec, 0.05, bands=[95, 220])] == [95, 220]
    for name in ("ra0hdec-44.75", "RA0HDEC-44.75", "demo-v1", "demo-v1/ra0hdec-44.75", "spt3g_ra0hdec-44.75_95ghz"):
        assert catalogue.match(ra, dec, 0.05, maps=[name]), name
    assert catalogue.match(ra, dec, 0.05, maps=["spt3g_ra0hdec-44.75_95ghz"])[0].band == 95
    assert catalogue.match(ra, dec, 0.05, maps=["ra5hdec-29.75"]) == []


def test_match_outside_and_edges(catalogue: Catalogue) -> None:
    assert catalogue.match(180.0, 30.0, 0.1) == []
    assert catalogue.match(0.0, -52.0, 0.1) == []  # between the two ra0 fields
    # The CAR field spans RA 72.5..77.5: a box centred just outside its edge
    # still overlaps it; one further out does not.
    assert catalogue.match(77.55, -29.75, 0.1)
    assert catalogue.match(77.8, -29.75, 0.1) == []
    # Across RA 0.
    assert {e.map for e in catalogue.match(359.9, -59.75, 0.05)} == {"ra0hdec-59.75"}
    assert {e.map for e in catalogue.match(0.1, -59.75, 0.05)} == {"ra0hdec-59.75"}


def test_match_opens_no_file(catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("match opened a FITS file")

    monkeypatch.setattr(fits, "open", forbidden)
    monkeypatch.setattr(Path, "open", forbidden)
    fresh = Catalogue(catalogue.directory, [e for e in catalogue.entries])
    for entry in fresh.entries:
        entry.__dict__.pop("wcs", None)  # rebuild the WCS from the stored header
    assert len(fresh.match(75.0, -29.75, 0.1)) == 3


def test_load_is_cached_and_follows_rebuilds(tmp_path: Path, maps_dir: Path) -> None:
    copy = tmp_path / "maps"
    copy.mkdir()
    shutil.copy(maps_dir / "spt3g_ra5hdec-29.75.fits", copy)
    (copy / "broken.fits").write_bytes(b"not a FITS file")
    (copy / "notes.txt").write_text("ignored")
    with pytest.raises(FatalJobError, match="no map catalogue"):
        load_catalogue(copy, build_if_missing=False)
    first = load_catalogue(copy)  # built on first use
    assert load_catalogue(copy) is first
    assert len(first.entries) == 3
    document = json.loads((copy / CATALOGUE_NAME).read_text())
    assert [s["file"] for s in document["skipped"]] == ["broken.fits"]
    # A new map with a FREQ keyword in Hz, another projection and a 3-D (1-plane) array.
    data = fits.getdata(copy / "spt3g_ra5hdec-29.75.fits", 1)[None, :100, :100]
    header = fits.getheader(copy / "spt3g_ra5hdec-29.75.fits", 1)
    header["FREQ"] = 2.2e11
    header["MAPNAME"] = "extra"
    fits.PrimaryHDU(data, header).writeto(copy / "extra.fits")
    build_catalogue(copy)
    second = load_catalogue(copy)
    assert second is not first
    extra = [e for e in second.entries if e.map == "extra"]
    assert [(e.band, e.shape, e.hdu) for e in extra] == [(220, (100, 100), 0)]


def test_empty_catalogue(tmp_path: Path) -> None:
    assert load_catalogue(tmp_path).entries == []
