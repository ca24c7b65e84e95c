"""Hostile input to the cutout service: each case was once slow, crashed, or answered wrong.

Every test here failed before its fix; none measures time (the bounds make
the refusals fast, and the tests check the refusal itself).
"""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from spt_api.services.errors import UsageError
from workers.services.cutout import table
from workers.services.cutout.bundle import Output
from workers.services.cutout.cut import make_cutout
from workers.services.cutout.fits_writer import fits_bytes
from workers.services.cutout.map_reader import MapReader
from workers.services.cutout.maps import build_catalogue, load_catalogue
from workers.services.cutout.params import CutoutParams
from workers.services.cutout.table import MAX_HEADER_CHARS, parse_positions_table
from workers.services.cutout.target import MAX_POSITIONS, circle_target


def params(*pairs: tuple[str, str]) -> CutoutParams:
    return CutoutParams.from_uws(pairs)


# -- uploaded tables ---------------------------------------------------------------------


def test_quadratic_sniffer_header_is_refused_by_its_length() -> None:
    # csv.Sniffer took 35 s on this header: quadratic in the quoted cells.
    hostile = ',"a' * 16_000 + "\n1,2\n"
    with pytest.raises(UsageError) as error:
        params(("positions", hostile))
    assert error.value.parameter == "positions"
    assert "header line" in str(error.value)
    assert str(MAX_HEADER_CHARS) in str(error.value)


def test_header_at_the_length_bound_is_parsed() -> None:
    header = "ra,dec," + ",".join(f"c{i}" for i in range(2000))
    header = header[: MAX_HEADER_CHARS].rstrip(",")
    targets = parse_positions_table(header + "\n10,-20\n")
    assert [(t.ra, t.dec) for t in targets] == [(10.0, -20.0)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name,ra,dec\na,10,-20\n", ("a", 10.0, -20.0)),
        ("name\tra\tdec\na\t10\t-20\n", ("a", 10.0, -20.0)),
        ("name;ra;dec\na;10;-20\n", ("a", 10.0, -20.0)),
        ("name|ra|dec\na|10|-20\n", ("a", 10.0, -20.0)),
        ('"name","ra","dec"\n"a, b",10,-20\n', ("a, b", 10.0, -20.0)),
    ],
)
def test_delimiter_is_found_without_the_sniffer(text: str, expected: tuple[str, float, float]) -> None:
    (target,) = parse_positions_table(text)
    assert (target.name, target.ra, target.dec) == expected


def test_million_row_table_is_refused_before_any_row_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Any] = []

    def counting(*args: Any) -> Any:
        built.append(args)
        return circle_target(*args)

    monkeypatch.setattr(table, "circle_target", counting)
    # Row 1 is invalid: were rows validated before counting, the error would name it.
    rows = 1_000_000
    text = "ra,dec\nnot-a-number,1\n" + "1,1\n" * (rows - 1)
    with pytest.raises(UsageError) as error:
        parse_positions_table(text)
    assert error.value.parameter == "positions"
    assert f"{rows} rows" in str(error.value)
    assert str(MAX_POSITIONS) in str(error.value)
    assert built == []


def test_votable_over_the_row_limit_is_refused_before_any_row_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table, "circle_target", pytest.fail)
    rows = MAX_POSITIONS + 1
    text = (
        '<VOTABLE><RESOURCE><TABLE><FIELD name="ra"/><FIELD name="dec"/><DATA><TABLEDATA>'
        + "<TR><TD>x</TD><TD>1</TD></TR>" * rows
        + "</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"
    )
    with pytest.raises(UsageError) as error:
        parse_positions_table(text)
    assert f"{rows} rows" in str(error.value)


def test_table_at_the_row_limit_is_accepted() -> None:
    text = "ra,dec\n" + "1,1\n" * MAX_POSITIONS
    assert len(parse_positions_table(text)) == MAX_POSITIONS


# -- band --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["9" * 309, "1" * 400, "f" + "9" * 400 + "GHz", "150 " + "9" * 309])
def test_band_too_large_for_a_float_is_a_usage_error(value: str) -> None:
    with pytest.raises(UsageError) as error:
        params(("POS", "CIRCLE 10 -20 0.1"), ("band", value))
    assert error.value.parameter == "band"
    assert "invalid parameter band" in str(error.value)


# -- cutouts at the map edge -------------------------------------------------------------

SCALE = 0.25 / 60  # degrees per pixel


@pytest.fixture(scope="module")
def edge_map(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("edge-map")
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---CAR", "DEC--CAR"]
    wcs.wcs.crval = [30.0, 0.0]
    wcs.wcs.crpix = [50.5, 40.5]
    wcs.wcs.cdelt = [-SCALE, SCALE]
    header = wcs.to_header()
    header["BAND"] = 150
    header["MAPNAME"] = "edge"
    data = np.arange(80 * 100, dtype=np.float32).reshape(80, 100)
    fits.PrimaryHDU(data, header).writeto(directory / "edge_150GHz.fits")
    build_catalogue(directory)
    return directory


@pytest.mark.parametrize(("px", "py"), [(50, 3), (4, 40), (4, 3), (96, 77)])
def test_partial_cutout_origin_is_the_map_pixel_at_its_origin(edge_map: Path, px: int, py: int) -> None:
    catalogue = load_catalogue(edge_map)
    (entry,) = catalogue.entries
    ra, dec = (float(v) for v in entry.wcs.wcs_pix2world([[px, py]], 0)[0])
    target = circle_target("edge", ra, dec, 10 * SCALE)  # about 21 x 21 pixels
    with MapReader() as reader:
        cutout = make_cutout(reader, entry, target)
    assert cutout is not None and cutout.partial
    with fits.open(io.BytesIO(fits_bytes(cutout))) as hdul:
        header = hdul[0].header
    # The cutout's own WCS says which map pixel its pixel (0, 0) is.
    world = WCS(header).wcs_pix2world([[0.0, 0.0]], 0)
    map_x, map_y = entry.wcs.wcs_world2pix(world, 0)[0]
    assert abs(header["ORIGX0"] - map_x) < 1e-6 and abs(header["ORIGY0"] - map_y) < 1e-6
    ny, nx = cutout.data.shape
    assert (header["ORIGX0"], header["ORIGY0"]) == (px - (nx - 1) // 2, py - (ny - 1) // 2)
    # And the pixels agree: the centre pixel of the cutout is map pixel (py, px) counted from the origin.
    data = fits.getdata(edge_map / entry.file)
    j, i = (ny - 1) // 2, (nx - 1) // 2
    assert cutout.data[j, i] == data[header["ORIGY0"] + j, header["ORIGX0"] + i] == data[py, px]


# -- member names ------------------------------------------------------------------------


def test_repeated_member_name_is_numbered_before_the_extension() -> None:
    output = Output("none", SimpleNamespace(workdir=Path(".")))  # type: ignore[arg-type]
    name = "x_ra0hdec-59.75_150GHz.fits"
    assert output.unique(name) == name
    assert output.unique(name) == "x_ra0hdec-59.75_150GHz-2.fits"
    assert output.unique(name) == "x_ra0hdec-59.75_150GHz-3.fits"
    assert output.unique("noextension") == "noextension"
    assert output.unique("noextension") == "noextension-2"
