"""run(params, ctx) with a fake job context, and cut_one for the SODA sync endpoint."""

from __future__ import annotations

import csv
import io
import json
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits

from spt_api.uws.errors import UsageError
from workers.services.cutout.params import CutoutParams
from workers.services.cutout.run import cut_one, run
from workers.services.cutout.settings import CutoutSettings

Ctx = Callable[..., Any]


def params(*pairs: tuple[str, str]) -> CutoutParams:
    return CutoutParams.from_uws(pairs)


def manifest(ctx: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(ctx.results["manifest"].path.read_text())))


def at(source: dict[str, Any], radius: float = 0.05) -> tuple[str, str]:
    return ("POS", f"CIRCLE {source['ra']} {source['dec']} {radius}")


def test_one_result_per_file(maps_dir: Path, sources: list[dict[str, Any]], make_ctx: Ctx) -> None:
    ctx = make_ctx()
    run(
        params(at(sources[0]), at(sources[-1]), ("band", "150"), ("band", "220"), ("format", "both")),
        ctx,
        maps_dir=maps_dir,
    )
    files = {rid: r for rid, r in ctx.results.items() if rid not in ("manifest", "manifest-json")}
    assert len(files) == 2 * 2 * 2  # positions x bands x formats
    assert {r.mime_type for r in files.values()} == {"application/fits", "image/png"}
    assert "pos1_ra0hdec-59.75_150GHz.fits" in files and "pos2_ra5hdec-29.75_220GHz.png" in files
    rows = manifest(ctx)
    assert {r["file"] for r in rows} == set(files)
    assert {r["status"] for r in rows} == {"ok"}
    header = fits.getheader(files["pos2_ra5hdec-29.75_220GHz.fits"].path)
    assert header["BAND"] == 220 and header["CTYPE1"] == "RA---CAR"
    assert ctx.results["manifest-json"].mime_type == "application/json"
    assert ctx.progress_calls[-1][:2] == (2, 2)


def test_statuses_in_manifest(maps_dir: Path, sources: list[dict[str, Any]], catalogue: Any, make_ctx: Ctx) -> None:
    entry = next(e for e in catalogue.entries if e.map == "ra5hdec-29.75" and e.band == 150)
    edge_ra, edge_dec = entry.wcs.wcs_pix2world([[-2.0, 300.0]], 0)[0]
    table = f"name,ra,dec\nsrc,{sources[0]['ra']},{sources[0]['dec']}\nedge,{edge_ra},{edge_dec}\nfar,180,20\n"
    ctx = make_ctx()
    run(params(("positions", table), ("band", "150")), ctx, maps_dir=maps_dir)
    rows = {r["name"]: r for r in manifest(ctx)}
    assert rows["src"]["status"] == "ok" and rows["src"]["map"] == "ra0hdec-59.75"
    assert rows["edge"]["status"] == "partial" and "padded with NaN" in rows["edge"]["message"]
    assert rows["far"]["status"] == "outside" and rows["far"]["file"] == ""
    assert rows["far"]["message"] == "outside every map of band 150 GHz"
    edge = fits.getdata(ctx.results[rows["edge"]["file"]].path)
    assert np.isnan(edge).any() and np.isfinite(edge).any()
    summary = json.loads(ctx.results["manifest-json"].path.read_text())["summary"]
    assert summary["positions_by_status"] == {"ok": 1, "partial": 1, "outside": 1}


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_bundle(maps_dir: Path, sources: list[dict[str, Any]], make_ctx: Ctx, kind: str) -> None:
    ctx = make_ctx()
    run(params(at(sources[0]), at(sources[10]), ("POS", "CIRCLE 180 20 0.1"), ("bundle", kind)), ctx, maps_dir=maps_dir)
    assert set(ctx.results) == {"bundle", "manifest", "manifest-json"}
    bundle = ctx.results["bundle"]
    assert bundle.name == f"cutouts.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(bundle.path) as archive:
            members = {n: archive.read(n) for n in archive.namelist()}
    else:
        with tarfile.open(bundle.path, "r:gz") as archive:
            members = {m.name: archive.extractfile(m).read() for m in archive.getmembers()}  # type: ignore[union-attr]
    rows = list(csv.DictReader(io.StringIO(members["cutouts/manifest.csv"].decode())))
    assert "cutouts/manifest.json" in members
    written = [r for r in rows if r["file"]]
    assert len(written) == 6  # two positions x three bands
    assert {r["file"] for r in written} | {"cutouts/manifest.csv", "cutouts/manifest.json"} == set(members)
    for row in written:
        header = fits.getheader(io.BytesIO(members[row["file"]]))
        assert header["CUTNAME"] == row["name"] and header["BAND"] == int(row["band"])
    assert [r["status"] for r in rows if r["name"] == "pos3"] == ["outside"]
    assert members["cutouts/manifest.csv"] == ctx.results["manifest"].path.read_bytes()


def test_nothing_cut_is_an_error(maps_dir: Path, make_ctx: Ctx) -> None:
    ctx = make_ctx()
    with pytest.raises(UsageError) as info:
        run(
            params(("POS", "CIRCLE 180 20 0.1"), ("POS", "CIRCLE 0 -52 0.1"), ("bundle", "zip")), ctx, maps_dir=maps_dir
        )
    message = info.value.message
    assert message.startswith("no cutout could be made: positions 2 outside")
    assert "'pos1' at ra=180, dec=20: outside every map" in message
    assert "ra5hdec-29.75: ra 72.5..77.5" in message
    assert ctx.results == {}
    assert not (ctx.workdir / "cutouts.zip").exists()


def test_unknown_band_or_map(maps_dir: Path, tmp_path: Path, make_ctx: Ctx) -> None:
    with pytest.raises(UsageError, match="unknown map 'deep56'") as info:
        run(params(("POS", "CIRCLE 75 -30 0.1"), ("ID", "deep56")), make_ctx(), maps_dir=maps_dir)
    assert info.value.parameter == "ID"
    # A catalogue with only the 150 GHz map of one field.
    only150 = tmp_path / "only150"
    only150.mkdir()
    (only150 / "m.fits").write_bytes((maps_dir / "spt3g_ra0hdec-44.75_150ghz.fits").read_bytes())
    with pytest.raises(UsageError, match=r"no map in band 220 GHz \(maps exist in 150 GHz\)"):
        run(params(("POS", "CIRCLE 0 -44.75 0.1"), ("band", "220")), make_ctx(), maps_dir=only150)


def test_abort_stops_the_loop(maps_dir: Path, sources: list[dict[str, Any]], make_ctx: Ctx) -> None:
    table = "ra,dec\n" + "\n".join(f"{s['ra']},{s['dec']}" for s in sources)
    ctx = make_ctx(abort_after=3)
    run(params(("positions", table), ("band", "150")), ctx, maps_dir=maps_dir)
    assert ctx.abort_checks == 4  # three positions cut, the fourth check saw the abort
    # The files of the positions cut before the abort were handed over; no
    # manifest is written, the job machinery records the job as ABORTED.
    assert sorted(ctx.results) == [f"row{i}_ra0hdec-59.75_150GHz.fits" for i in (1, 2, 3)]


def test_abort_discards_the_bundle(maps_dir: Path, sources: list[dict[str, Any]], make_ctx: Ctx) -> None:
    table = "ra,dec\n" + "\n".join(f"{s['ra']},{s['dec']}" for s in sources)
    ctx = make_ctx(abort_after=2)
    run(params(("positions", table), ("bundle", "tar.gz")), ctx, maps_dir=maps_dir)
    assert ctx.results == {}
    assert not (ctx.workdir / "cutouts.tar.gz").exists()


def test_progress(maps_dir: Path, sources: list[dict[str, Any]], make_ctx: Ctx) -> None:
    table = "ra,dec\n" + "\n".join(f"{s['ra']},{s['dec']}" for s in sources)
    ctx = make_ctx()
    run(params(("positions", table), ("band", "95")), ctx, maps_dir=maps_dir)
    done = [c[0] for c in ctx.progress_calls]
    assert done[0] == 0 and done[-1] == len(sources)
    assert done == sorted(done)
    assert {c[1] for c in ctx.progress_calls} == {len(sources)}
    assert ctx.progress_calls[-1][2] == f"{len(sources)} of {len(sources)} positions"


def test_chunks_give_the_same_files(maps_dir: Path, sources: list[dict[str, Any]], make_ctx: Ctx) -> None:
    table = "name,ra,dec\n" + "\n".join(f"{s['name']},{s['ra']},{s['dec']}" for s in sources[:7])
    whole = params(("positions", table), ("band", "150"))
    ctx = make_ctx()
    run(whole, ctx, maps_dir=maps_dir)
    pieces = []
    for chunk in whole.chunks(3):
        piece = make_ctx()
        run(CutoutParams.model_validate(chunk.to_message()), piece, maps_dir=maps_dir)
        pieces.extend(manifest(piece))
    assert [(r["name"], r["file"]) for r in pieces] == [(r["name"], r["file"]) for r in manifest(ctx)]


def test_maps_directory_from_settings(
    maps_dir: Path, sources: list[dict[str, Any]], make_ctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The name deployments already use still works, as an alias of SPT_API_CUTOUT_MAPS_URL.
    monkeypatch.setenv("SPT_API_MAPS_URL", maps_dir.as_uri())
    ctx = make_ctx(service_settings=CutoutSettings())
    run(params(at(sources[3]), ("band", "95")), ctx)
    assert len(ctx.results) == 3


def test_cut_one_fits(maps_dir: Path, sources: list[dict[str, Any]]) -> None:
    source = next(s for s in sources if s["field"] == "ra5hdec-29.75")
    result = cut_one(params(("ra", str(source["ra"])), ("dec", str(source["dec"]))), maps_dir=maps_dir)
    assert result.mime_type == "application/fits"
    assert result.filename == "target_ra5hdec-29.75_150GHz.fits"  # 150 GHz unless asked otherwise
    with fits.open(io.BytesIO(result.data)) as hdul:
        data = hdul[0].data
        assert hdul[0].header["BAND"] == 150
    peak = np.unravel_index(np.argmax(data), data.shape)
    assert abs(peak[0] - data.shape[0] // 2) <= 1 and abs(peak[1] - data.shape[1] // 2) <= 1


def test_cut_one_png_and_band(maps_dir: Path, sources: list[dict[str, Any]]) -> None:
    result = cut_one(params(at(sources[0]), ("band", "220"), ("format", "png")), maps_dir=maps_dir)
    assert result.mime_type == "image/png" and result.data.startswith(b"\x89PNG")
    assert result.filename.endswith("_220GHz.png")


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([("POS", "CIRCLE 75 -30 0.1"), ("POS", "CIRCLE 75 -29 0.1")], "one position, got 2"),
        ([("POS", "CIRCLE 75 -30 0.1"), ("band", "95"), ("band", "150")], "one band"),
        ([("POS", "CIRCLE 75 -30 0.1"), ("format", "both")], "format must be fits or png"),
        ([("POS", "CIRCLE 180 20 0.1")], "is outside every map"),
        ([("POS", "CIRCLE 75 -30 0.1"), ("ID", "ra0hdec-59.75")], "is outside every map of the requested band/ID"),
    ],
)
def test_cut_one_errors(maps_dir: Path, pairs: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        cut_one(params(*pairs), maps_dir=maps_dir)


def test_non_ascii_names(maps_dir: Path, sources: list[dict[str, Any]], make_ctx: Ctx) -> None:
    table = f'name,ra,dec\n"Großer \u03b1, Nord",{sources[0]["ra"]},{sources[0]["dec"]}\n'
    ctx = make_ctx()
    run(params(("positions", table), ("band", "150")), ctx, maps_dir=maps_dir)
    (row,) = manifest(ctx)
    assert row["name"] == "Großer \u03b1, Nord"  # the manifest keeps the name as given
    assert row["file"] == "Gro_er_Nord_ra0hdec-59.75_150GHz.fits"
    assert fits.getheader(ctx.results[row["file"]].path)["CUTNAME"] == "Gro?er ?, Nord"


def test_abort_between_maps(maps_dir: Path, sources: list[dict[str, Any]], make_ctx: Ctx) -> None:
    ctx = make_ctx(abort_after=1)  # the first position starts, then the abort comes
    run(params(at(sources[0]), at(sources[1])), ctx, maps_dir=maps_dir)
    assert sorted(ctx.results) == ["pos1_ra0hdec-59.75_95GHz.fits"]  # one of three bands


def test_changed_map_is_refused(maps_dir: Path, tmp_path: Path, make_ctx: Ctx) -> None:
    from spt_api.services.errors import FatalJobError

    directory = tmp_path / "maps"
    directory.mkdir()
    (directory / "m.fits").write_bytes((maps_dir / "spt3g_ra0hdec-44.75_150ghz.fits").read_bytes())
    run(params(("POS", "CIRCLE 0 -44.75 0.05")), make_ctx(), maps_dir=directory)  # indexes on first use
    with (directory / "m.fits").open("ab") as handle:
        handle.write(b"\0" * 2880)
    with pytest.raises(FatalJobError, match="changed since it was indexed"):
        run(params(("POS", "CIRCLE 0 -44.75 0.05")), make_ctx(), maps_dir=directory)
