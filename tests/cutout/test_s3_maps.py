"""Maps on S3 (a real S3 server: SeaweedFS): catalogue by ranged header reads, cutouts by ranged row reads.

Every S3 result is compared with the same operation on the same maps on local
disk: catalogue entries, cutout pixels, WCS and FITS bytes, job manifests.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from spt_api.config import Settings
from spt_api.services.errors import FatalJobError
from tests.support.s3server import SeaweedS3
from workers.services.cutout import s3_reader as s3_reader_module
from workers.services.cutout.catalogue import Catalogue
from workers.services.cutout.cut import Cutout, make_cutout, prefetch_cutout
from workers.services.cutout.fits_writer import fits_bytes
from workers.services.cutout.map_entry import MapEntry
from workers.services.cutout.map_reader import MapReader
from workers.services.cutout.maps import build_catalogue, load_catalogue
from workers.services.cutout.params import CutoutParams
from workers.services.cutout.run import cut_one, maps_directory, run
from workers.services.cutout.s3_location import S3Location
from workers.services.cutout.target import Target
from workers.services.cutout.upload import upload_maps

BUCKET = "spt-maps"
Ctx = Callable[..., Any]


@pytest.fixture(scope="module")
def s3() -> Iterator[SeaweedS3]:
    with SeaweedS3(bucket=BUCKET) as server:
        yield server


def location_of(s3: SeaweedS3, prefix: str) -> S3Location:
    return S3Location(
        bucket=BUCKET,
        prefix=prefix,
        endpoint_url=s3.endpoint_url,
        region=s3.region,
        access_key_id=s3.access_key,
        secret_access_key=s3.secret_key,
    )


@pytest.fixture(scope="module")
def location(s3: SeaweedS3, maps_dir: Path) -> S3Location:
    """The small demo maps uploaded under ``maps/demo`` and indexed there."""
    where = location_of(s3, "maps/demo")
    upload_maps(where, maps_dir)
    build_catalogue(where)
    return where


@pytest.fixture(scope="module")
def s3_catalogue(location: S3Location) -> Catalogue:
    return load_catalogue(location, build_if_missing=False)


def local_twin(entry: MapEntry, catalogue: Catalogue) -> MapEntry:
    return next(e for e in catalogue.entries if e.key == entry.key)


def target(ra: float, dec: float, size_deg: float = 0.05, name: str = "t") -> Target:
    params = CutoutParams.from_uws([("POS", f"CIRCLE {ra} {dec} {size_deg}")])
    return dataclasses.replace(params.positions()[0], name=name)


def assert_same_cutout(local: Cutout | None, remote: Cutout | None) -> None:
    assert (local is None) == (remote is None)
    if local is None or remote is None:
        return
    assert remote.data.dtype == local.data.dtype and remote.data.shape == local.data.shape
    assert remote.data.tobytes() == local.data.tobytes()
    assert remote.wcs.to_header(relax=True) == local.wcs.to_header(relax=True)
    assert (remote.origin, remote.position, remote.partial, remote.has_data) == (
        local.origin,
        local.position,
        local.partial,
        local.has_data,
    )
    assert fits_bytes(remote) == fits_bytes(local)


def test_catalogue_equals_local(location: S3Location, s3_catalogue: Catalogue, catalogue: Catalogue) -> None:
    assert s3_catalogue.directory == location
    assert len(s3_catalogue.entries) == len(catalogue.entries) == 9
    for remote, local in zip(s3_catalogue.entries, catalogue.entries, strict=True):
        assert remote.store == location and local.store is None
        got, want = remote.to_json(), local.to_json()
        assert got.pop("mtime") and want.pop("mtime")  # object time vs file time
        assert got == want  # offsets included: S3 parsing agrees with astropy's
        assert remote.data_offset > remote.header_offset >= 0
        assert remote.location == f"s3://{BUCKET}/maps/demo/{remote.file}"
    assert s3_catalogue.skipped == [] and s3_catalogue.bands() == catalogue.bands()


def test_catalogue_is_stored_and_cached(s3: SeaweedS3, location: S3Location, s3_catalogue: Catalogue) -> None:
    document = json.loads(s3.client().get_object(Bucket=BUCKET, Key="maps/demo/catalogue.json")["Body"].read())
    assert len(document["entries"]) == 9
    assert load_catalogue(location) is s3_catalogue
    settings = Settings(
        service_settings={"cutout": {"maps_url": f"s3://{BUCKET}/maps/demo/"}},
        s3_endpoint_url=s3.endpoint_url,
        s3_region=s3.region,
        s3_access_key_id=s3.access_key,
        s3_secret_access_key=s3.secret_key,
    )
    assert maps_directory(settings) == location
    assert load_catalogue(maps_directory(settings)) is s3_catalogue


def test_missing_catalogue(s3: SeaweedS3) -> None:
    with pytest.raises(FatalJobError, match=r"no map catalogue at s3://spt-maps/maps/none/catalogue.json: run"):
        load_catalogue(location_of(s3, "maps/none"), build_if_missing=False)


def test_cutouts_identical_to_local(
    s3_catalogue: Catalogue, catalogue: Catalogue, sources: list[dict[str, Any]]
) -> None:
    edge = next(e for e in catalogue.entries if e.map == "ra5hdec-29.75")
    edge_ra, edge_dec = edge.wcs.wcs_pix2world([[-2.0, 300.0]], 0)[0]
    corner_ra, corner_dec = edge.wcs.wcs_pix2world([[597.0, 598.5]], 0)[0]
    targets = [target(s["ra"], s["dec"], name=s["name"]) for s in sources[::4]]
    targets += [target(edge_ra, edge_dec, 0.1), target(corner_ra, corner_dec, 0.2), target(sources[3]["ra"], -45, 1.0)]
    compared = 0
    with MapReader() as local_reader, MapReader() as s3_reader:
        for t in targets:
            for remote in s3_catalogue.match(t.ra, t.dec, t.radius, width=t.width, height=t.height):
                local = make_cutout(local_reader, local_twin(remote, catalogue), t)
                assert_same_cutout(local, make_cutout(s3_reader, remote, t))
                compared += 1
        assert s3_reader.s3.requests > 0 and local_reader._s3 is None
    assert compared >= 3 * len(targets)


def test_per_row_spans_for_wide_maps(
    s3_catalogue: Catalogue, catalogue: Catalogue, sources: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pretend the maps are very wide: each row's needed columns are fetched alone.
    monkeypatch.setattr(s3_reader_module, "ROW_SPAN_MIN_WASTE", 0)
    monkeypatch.setattr(s3_reader_module, "_HEADERS", OrderedDict())  # count the header GET too
    t = target(sources[1]["ra"], sources[1]["dec"], 0.1)
    remote = s3_catalogue.match(t.ra, t.dec, t.radius, [150])[0]
    with MapReader() as local_reader, MapReader() as s3_reader:
        local = make_cutout(local_reader, local_twin(remote, catalogue), t)
        before = s3_reader.s3.requests
        cut = make_cutout(s3_reader, remote, t)
        assert_same_cutout(local, cut)
        assert cut is not None
        rows, cols = cut.data.shape
        assert s3_reader.s3.requests - before == rows + 1  # one GET per row, plus the header
        assert s3_reader.s3.bytes_read == remote.data_offset - remote.header_offset + rows * cols * 4


def test_one_cutout_fetches_only_its_rows(
    location: S3Location, s3_catalogue: Catalogue, sources: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_reader_module, "_HEADERS", OrderedDict())
    fetched: list[int] = []

    def count(parsed: dict[str, Any], **_: Any) -> None:
        fetched.append(int(parsed.get("ContentLength", 0)))

    events = location.client().meta.events
    events.register("after-call.s3.GetObject", count)
    try:
        t = target(sources[0]["ra"], sources[0]["dec"])  # 0.1 deg: 13 px at 0.5'
        entry = s3_catalogue.match(t.ra, t.dec, t.radius, [150])[0]
        with MapReader() as reader:
            cut = make_cutout(reader, entry, t)
            assert cut is not None and cut.status == "ok"
            # The same rows again: served from the reader's band cache.
            assert make_cutout(reader, entry, target(sources[0]["ra"], sources[0]["dec"], 0.02)) is not None
    finally:
        events.unregister("after-call.s3.GetObject", count)
    rows, width = cut.data.shape[0], entry.shape[1]
    header_bytes = entry.data_offset - entry.header_offset
    assert fetched == [header_bytes, rows * width * 4]  # header (cached per process), then one band of rows
    assert sum(fetched) < entry.size / 20


def run_manifest(ctx: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(ctx.results["manifest"].path.read_text())))


def test_run_same_as_local(
    location: S3Location, maps_dir: Path, sources: list[dict[str, Any]], make_ctx: Ctx, catalogue: Catalogue
) -> None:
    entry = next(e for e in catalogue.entries if e.map == "ra5hdec-29.75" and e.band == 150)
    edge_ra, edge_dec = entry.wcs.wcs_pix2world([[-2.0, 300.0]], 0)[0]
    table = "name,ra,dec\n" + "".join(f"{s['name']},{s['ra']},{s['dec']}\n" for s in sources[::3])
    table += f"edge,{edge_ra},{edge_dec}\nfar,180,20\n"
    pairs = [("positions", table), ("band", "150"), ("band", "95"), ("format", "fits")]
    local_ctx, s3_ctx = make_ctx(), make_ctx()
    run(CutoutParams.from_uws(pairs), local_ctx, maps_dir=maps_dir)
    run(CutoutParams.from_uws(pairs), s3_ctx, maps_dir=location)
    assert run_manifest(s3_ctx) == run_manifest(local_ctx)
    assert {r["status"] for r in run_manifest(s3_ctx)} == {"ok", "partial", "outside"}
    assert set(s3_ctx.results) == set(local_ctx.results)
    for rid, result in s3_ctx.results.items():
        if rid.endswith(".fits"):
            assert result.path.read_bytes() == local_ctx.results[rid].path.read_bytes(), rid
    local_json = json.loads(local_ctx.results["manifest-json"].path.read_text())
    s3_json = json.loads(s3_ctx.results["manifest-json"].path.read_text())
    assert s3_json["summary"] == local_json["summary"]


def test_run_and_sync_from_settings(
    s3: SeaweedS3, location: S3Location, maps_dir: Path, sources: list[dict[str, Any]], make_ctx: Ctx
) -> None:
    settings = Settings(
        service_settings={"cutout": {"maps_url": location.url}},
        s3_endpoint_url=s3.endpoint_url,
        s3_access_key_id=s3.access_key,
        s3_secret_access_key=s3.secret_key,
    )
    ctx = make_ctx()
    ctx.settings = settings
    source = sources[5]
    run(CutoutParams.from_uws([("ra", str(source["ra"])), ("dec", str(source["dec"])), ("band", "220")]), ctx)
    assert [r["status"] for r in run_manifest(ctx)] == ["ok"]
    params = CutoutParams.from_uws([("POS", f"CIRCLE {source['ra']} {source['dec']} 0.05")])
    synced = cut_one(params, maps_dir=maps_directory(settings))
    assert synced.data == cut_one(params, maps_dir=maps_dir).data
    assert synced.filename.endswith("_150GHz.fits")


@pytest.fixture(scope="module")
def int_maps(tmp_path_factory: pytest.TempPathFactory, s3: SeaweedS3) -> tuple[Catalogue, Catalogue]:
    """A scaled int16 map with BLANK pixels in the primary HDU, on disk and on S3."""
    directory = tmp_path_factory.mktemp("int-maps")
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---CAR", "DEC--CAR"]
    wcs.wcs.crval = [30.0, -50.0]
    wcs.wcs.crpix = [25.5, 20.5]
    wcs.wcs.cdelt = [-0.01, 0.01]
    raw = np.random.default_rng(5).integers(-3000, 3000, size=(40, 50), dtype=np.int16)
    raw[10:12, 20:30] = -32768
    header = wcs.to_header()
    header.update(BSCALE=0.5, BZERO=10.0, BLANK=-32768, BUNIT="uK", FREQ=150e9, FIELD="intfield")
    hdu = fits.PrimaryHDU(raw, header, do_not_scale_image_data=True)
    hdu.writeto(directory / "int16_map.fits")
    build_catalogue(directory)
    where = location_of(s3, "maps/int")
    upload_maps(where, directory)
    build_catalogue(where)
    return load_catalogue(directory), load_catalogue(where)


def test_scaled_integer_map(int_maps: tuple[Catalogue, Catalogue]) -> None:
    local_cat, s3_cat = int_maps
    (remote,) = s3_cat.entries
    assert remote.band == 150 and remote.shape == (40, 50) and remote.hdu == 0
    with MapReader() as local_reader, MapReader() as s3_reader:
        for ra, dec, size in ((30.0, -50.0, 0.05), (30.05, -49.9, 0.1), (29.75, -49.8, 0.2), (30.2, -50.2, 0.5)):
            t = target(ra, dec, size)
            assert_same_cutout(make_cutout(local_reader, local_cat.entries[0], t), make_cutout(s3_reader, remote, t))
        cut = make_cutout(s3_reader, remote, target(30.0, -50.09, 0.08))
        assert cut is not None and cut.data.dtype == np.float32 and np.isnan(cut.data).any()


def test_section_slicing(int_maps: tuple[Catalogue, Catalogue]) -> None:
    local_cat, s3_cat = int_maps
    expected = fits.getdata(local_cat.entries[0].path, do_not_scale_image_data=True)
    with MapReader() as reader:
        section, header = reader.hdu(s3_cat.entries[0])
        assert header["BITPIX"] == 16 and section.shape == (40, 50) and section.dtype == np.dtype(">i2")
        for key in (
            (slice(3, 9), slice(4, 17)),
            (5, slice(2, 8)),
            (slice(None), 7),
            (slice(30, 2, -3), slice(None, None, 4)),
            (-1, -1),
            (Ellipsis, slice(1, 3)),
            slice(38, None),
            (slice(5, 5), slice(None)),
        ):
            got, want = section[key], expected[key]
            assert np.shape(got) == np.shape(want) and np.array_equal(got, want), key
        with pytest.raises(IndexError):
            section[40, 0]


def test_compressed_and_unsupported_files_refused(s3: SeaweedS3, maps_dir: Path, make_ctx: Ctx) -> None:
    where = location_of(s3, "maps/bad")
    client = s3.client()
    one = (maps_dir / "spt3g_ra0hdec-44.75_150ghz.fits").read_bytes()
    client.put_object(Bucket=BUCKET, Key="maps/bad/spt3g_150.fits.gz", Body=gzip.compress(one))
    client.put_object(Bucket=BUCKET, Key="maps/bad/tiles.fz", Body=b"x" * 10)
    tiled = io.BytesIO()
    with fits.open(maps_dir / "spt3g_ra0hdec-44.75_150ghz.fits") as hdul:
        fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(hdul[0].data, hdul[0].header)]).writeto(tiled)
    client.put_object(Bucket=BUCKET, Key="maps/bad/tiled.fits", Body=tiled.getvalue())
    client.put_object(Bucket=BUCKET, Key="maps/bad/junk.fits", Body=b"not a FITS file\n" * 300)
    client.put_object(Bucket=BUCKET, Key="maps/bad/README.txt", Body=b"ignored")
    build_catalogue(where)
    cat = load_catalogue(where)
    assert cat.entries == []
    reasons = {s["file"]: s["reason"] for s in cat.skipped}
    assert set(reasons) == {"spt3g_150.fits.gz", "tiles.fz", "tiled.fits[1]", "junk.fits"}
    assert reasons["spt3g_150.fits.gz"].startswith("compressed FITS: maps on S3 are read by ranged requests")
    assert "uncompressed" in reasons["tiles.fz"]
    assert reasons["tiled.fits[1]"].startswith("tile-compressed image HDU (ZIMAGE = T)")
    assert "not a FITS file" in reasons["junk.fits"]
    with pytest.raises(
        FatalJobError, match=r"catalogue of s3://spt-maps/maps/bad is empty \(files refused: .*compressed"
    ):
        run(CutoutParams.from_uws([("POS", "CIRCLE 0 -44.75 0.1")]), make_ctx(), maps_dir=where)


def test_changed_or_old_catalogue_refused(s3: SeaweedS3, maps_dir: Path, catalogue: Catalogue) -> None:
    where = location_of(s3, "maps/changed")
    name = "spt3g_ra0hdec-44.75_95ghz.fits"
    data = (maps_dir / name).read_bytes()
    s3.client().put_object(Bucket=BUCKET, Key=f"maps/changed/{name}", Body=data)
    build_catalogue(where)
    (entry,) = load_catalogue(where).entries
    t = target(entry.center[0], entry.center[1])
    s3.client().put_object(Bucket=BUCKET, Key=f"maps/changed/{name}", Body=data + b"\0" * 2880)
    with MapReader() as reader, pytest.raises(FatalJobError, match="changed since it was indexed"):
        make_cutout(reader, entry, t)
    old = MapEntry.from_json({**entry.to_json(), "header_offset": -1, "data_offset": -1}, Path("."), store=where)
    with MapReader() as reader, pytest.raises(FatalJobError, match=r"has no byte offsets .*spt-api maps index s3://"):
        make_cutout(reader, old, t)


def test_prefetched_rows_serve_the_cut(
    s3_catalogue: Catalogue, catalogue: Catalogue, sources: list[dict[str, Any]]
) -> None:
    # The rows of several positions are requested ahead; each cut then takes its band without a GET of its own.
    targets = [target(s["ra"], s["dec"], name=s["name"]) for s in sources[:6]]
    pairs = [(t, s3_catalogue.match(t.ra, t.dec, t.radius, [150])[0]) for t in targets]
    with MapReader() as local_reader, MapReader() as s3_reader:
        for _, remote in pairs:
            s3_reader.s3.header(remote)  # headers first, so only band GETs are counted below
        before = s3_reader.s3.requests
        for t, remote in pairs:
            prefetch_cutout(s3_reader, remote, t)
        requested = s3_reader.s3._ahead._bytes
        assert requested > 0
        for t, remote in pairs:
            local = make_cutout(local_reader, local_twin(remote, catalogue), t)
            assert_same_cutout(local, make_cutout(s3_reader, remote, t))
        assert s3_reader.s3._ahead._bytes == 0  # every band requested ahead was read
        assert s3_reader.s3.requests - before <= len(pairs)  # no cut fetched its rows a second time


def test_prefetch_asks_nothing_for_local_maps_or_positions_off_the_map(catalogue: Catalogue) -> None:
    entry = catalogue.entries[0]
    far = target((entry.center[0] + 180) % 360, -entry.center[1])
    with MapReader() as reader:
        prefetch_cutout(reader, entry, far)
        prefetch_cutout(reader, entry, target(entry.center[0], entry.center[1]))
        assert reader._s3 is None
