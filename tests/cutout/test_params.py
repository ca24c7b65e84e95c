"""Parsing of the cutout parameters: SODA shapes, ra/dec, uploaded tables, options, chunks."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from spt_api.uws.errors import UsageError
from workers.services.cutout.params import SERVICE, CutoutParams
from workers.services.cutout.table import parse_positions_table
from workers.services.cutout.target import MAX_POSITIONS, chunk_targets


def params(*pairs: tuple[str, str]) -> CutoutParams:
    return CutoutParams.from_uws(pairs)


def test_service_declaration() -> None:
    assert SERVICE.name == "cutout"
    assert SERVICE.queue == "cutout"
    assert SERVICE.run == "workers.services.cutout.run:run"
    assert SERVICE.params_model is CutoutParams
    schema = SERVICE.parameter_schema()
    assert {"pos", "band", "ID", "format", "bundle", "positions"} <= set(schema["properties"])


def test_params_module_is_light() -> None:
    code = (
        "import sys, workers.services.cutout.params;"
        "heavy = [m for m in ('astropy', 'numpy', 'matplotlib') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_circle() -> None:
    (target,) = params(("POS", "CIRCLE 10.5 -50.25 0.1")).positions()
    assert (target.name, target.ra, target.dec, target.shape) == ("pos1", 10.5, -50.25, "circle")
    assert target.width == target.height == pytest.approx(0.2)
    assert target.pos == "CIRCLE 10.5 -50.25 0.1"


def test_range_across_ra_zero() -> None:
    (target,) = params(("pos", "RANGE 359 1 -51 -50")).positions()
    assert target.shape == "range"
    assert target.ra == pytest.approx(0.0)
    assert target.dec == pytest.approx(-50.5)
    assert target.width == pytest.approx(2 * math.cos(math.radians(50.5)))
    assert target.height == pytest.approx(1.0)


def test_polygon_across_ra_zero() -> None:
    (target,) = params(("POS", "polygon 359.5 -60 0.5 -60 0 -59")).positions()
    assert target.shape == "polygon"
    assert target.ra == pytest.approx(0.0)
    assert target.dec == pytest.approx(-59.5)
    assert target.height == pytest.approx(1.0)


def test_soda_circle_and_polygon_parameters_and_names() -> None:
    p = params(
        ("POS", "CIRCLE 1 2 0.1"),
        ("CIRCLE", "3 4 0.1"),
        ("POLYGON", "5 5 6 5 6 6"),
        ("NAME", "first"),
        ("name", "second"),
    )
    assert [t.name for t in p.positions()] == ["first", "second", "pos3"]
    assert [t.shape for t in p.positions()] == ["circle", "circle", "polygon"]


def test_ra_dec_size() -> None:
    (target,) = params(("RA", "20"), ("DEC", "-40"), ("size", "12")).positions()
    assert (target.ra, target.dec) == (20.0, -40.0)
    assert target.width == pytest.approx(0.2)  # 12 arcmin


def test_options_are_case_insensitive_with_aliases() -> None:
    p = params(
        ("POS", "CIRCLE 1 2 0.1"),
        ("BAND", "150"),
        ("band", "90GHz"),
        ("band", "f220"),
        ("band", "150"),
        ("ID", "ra0hdec-59.75"),
        ("FORMAT", "image/png"),
        ("Scaling", "ASINH"),
        ("colormap", "rdbu_r"),
        ("bundle", "tgz"),
        ("axes", "true"),
    )
    assert p.band == [150, 95, 220]
    assert p.map == ["ra0hdec-59.75"]
    assert (p.format, p.scaling, p.colormap, p.bundle, p.axes) == ("png", "asinh", "RdBu_r", "tar.gz", True)


@pytest.mark.parametrize(
    ("value", "bands"),
    [
        ("95 150", [95, 150]),
        ("220,f150", [220, 150]),
        ("0.0019 0.0021", [150]),
        ("0.001 0.0035", [95, 150, 220]),
        ("0.003 +Inf", [95]),
        ("-Inf 0.0015", [220]),
    ],
)
def test_soda_band_interval_in_metres(value: str, bands: list[int]) -> None:
    # What pyvo's SodaQuery(band=(1.9 * u.mm, 2.1 * u.mm)) sends.
    assert params(("POS", "CIRCLE 1 2 0.1"), ("BAND", value)).band == bands


def test_control_parameters_are_ignored() -> None:
    p = params(("POS", "CIRCLE 1 2 0.1"), ("RUNID", "mine"), ("PHASE", "RUN"))
    assert len(p.positions()) == 1


def test_csv_table() -> None:
    text = "\ufeff# my targets\nName,RA,Dec,size\nA,1.5,-2.5,3\nB,4,5,\n\nA,359.9,-89.5,1\n"
    p = params(("positions", text), ("size", "6"))
    targets = p.positions()
    assert [t.name for t in targets] == ["A", "B", "A-2"]
    assert targets[0].width == pytest.approx(3 / 60)
    assert targets[1].width == pytest.approx(6 / 60)  # the row has no size: the size parameter
    assert (targets[2].ra, targets[2].dec) == (359.9, -89.5)


def test_tsv_table_without_names() -> None:
    targets = parse_positions_table("ra\tdec\n10\t-20\n11\t-21\n")
    assert [t.name for t in targets] == ["row1", "row2"]


def test_votable_tabledata() -> None:
    votable = """<?xml version="1.0"?>
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
 <RESOURCE><TABLE>
  <FIELD name="src" datatype="char" arraysize="*" ucd="meta.id;meta.main"/>
  <FIELD name="RAJ2000" datatype="double" unit="deg"/>
  <FIELD name="x" datatype="double" ucd="pos.eq.dec;meta.main"/>
  <FIELD name="size" datatype="double" unit="arcmin"/>
  <DATA><TABLEDATA>
   <TR><TD>SPT-CL J0001-5440</TD><TD>0.25</TD><TD>-54.67</TD><TD>4</TD></TR>
   <TR><TD>other</TD><TD>1.0</TD><TD>-55</TD><TD></TD></TR>
  </TABLEDATA></DATA>
 </TABLE></RESOURCE>
</VOTABLE>"""
    targets = params(("positions", votable)).positions()
    assert [(t.name, t.ra, t.dec) for t in targets] == [("SPT-CL J0001-5440", 0.25, -54.67), ("other", 1.0, -55.0)]
    assert targets[0].width == pytest.approx(4 / 60)


def test_thousands_of_rows() -> None:
    rows = "\n".join(f"s{i},{(i * 0.037) % 360},{-70 + (i % 1000) * 0.01}" for i in range(20_000))
    p = params(("positions", "name,ra,dec\n" + rows))
    assert len(p.positions()) == 20_000


def test_message_round_trip() -> None:
    p = params(("POS", "RANGE 359 1 -51 -50"), ("positions", "ra,dec\n1,2\n"), ("band", "95"), ("ID", "x"))
    again = CutoutParams.model_validate(p.to_message())
    assert again.positions() == p.positions()
    assert again == p


def test_chunks_rebuild_the_same_targets() -> None:
    table = "name,ra,dec,size\n" + "\n".join(f"t{i},{i},{-10 - i / 10},{1 + i % 3}" for i in range(25))
    p = params(("POS", "POLYGON 1 1 2 1 2 2"), ("positions", table), ("band", "150"), ("format", "both"))
    chunks = p.chunks(10)
    assert [len(c.positions()) for c in chunks] == [10, 10, 6]
    assert [t for c in chunks for t in c.positions()] == p.positions()
    assert all(c.band == [150] and c.format == "both" for c in chunks)
    assert chunk_targets(p.positions(), 100) == [p.positions()]
    with pytest.raises(ValueError):
        chunk_targets(p.positions(), 0)


BAD: list[tuple[list[tuple[str, str]], str, str]] = [
    ([], "POS", "no position given"),
    ([("POS", "CIRCLE 10 95 1")], "POS", "'CIRCLE 10 95 1': dec 95 is outside [-90, 90]"),
    ([("POS", "CIRCLE 400 10 1")], "POS", "'CIRCLE 400 10 1': ra 400 is outside [0, 360]"),
    ([("POS", "CIRCLE -1 10 1")], "POS", "ra -1 is outside"),
    ([("POS", "CIRCLE 10 10 0")], "POS", "'CIRCLE 10 10 0': radius 0 must be > 0"),
    ([("POS", "CIRCLE 10 10 -2")], "POS", "radius -2 must be > 0"),
    ([("POS", "CIRCLE 10 10 5")], "POS", "radius 5 is larger than 2 degrees"),
    ([("POS", "CIRCLE 10 10")], "POS", "'CIRCLE 10 10': CIRCLE takes 3 numbers"),
    ([("POS", "CIRCLE 10 ten 1")], "POS", "value 'ten' is not a number"),
    ([("POS", "CIRCLE nan 10 1")], "POS", "must be finite"),
    ([("POS", "BOX 1 2 3 4")], "POS", "unknown shape 'BOX'"),
    ([("POS", "")], "POS", "empty"),
    ([("POS", "RANGE 1 2 3")], "POS", "RANGE takes 4 numbers"),
    ([("POS", "RANGE 1 2 -Inf 3")], "POS", "'RANGE 1 2 -Inf 3': value must be finite"),
    ([("POS", "RANGE 1 2 5 3")], "POS", "dec1 must be smaller than dec2"),
    ([("POS", "RANGE 1 1 3 4")], "POS", "ra1 and ra2 are equal"),
    ([("POS", "RANGE 0 30 3 4")], "POS", "larger than 4 degrees"),
    ([("POS", "POLYGON 1 1 2 2")], "POS", "at least 3 vertices"),
    ([("POS", "POLYGON 1 1 2 2 3")], "POS", "pairs of numbers"),
    ([("POS", "POLYGON 1 1 2 2 3 95")], "POS", "dec 95 is outside"),
    ([("CIRCLE", "1 2")], "CIRCLE", "'CIRCLE 1 2'"),
    ([("POLYGON", "1 2 3 4")], "POLYGON", "at least 3 vertices"),
    ([("ra", "10")], "dec", "'dec' is missing"),
    ([("dec", "10")], "ra", "'ra' is missing"),
    ([("ra", "abc"), ("dec", "1")], "ra", "ra 'abc': ra 'abc' is not a number"),
    ([("ra", "1"), ("dec", "-91")], "dec", "dec '-91': dec -91 is outside [-90, 90]"),
    ([("ra", "1"), ("dec", "1"), ("size", "0")], "size", "size '0': must be in"),
    ([("ra", "1"), ("dec", "1"), ("size", "1000")], "size", "size '1000'"),
    ([("ra", "1"), ("ra", "2"), ("dec", "1")], "ra", "accepts a single value"),
    ([("ra", "1"), ("dec", "1"), ("band", "100")], "band", "band '100': expected one of 95, 150, 220"),
    ([("ra", "1"), ("dec", "1"), ("band", "high")], "band", "band 'high'"),
    ([("ra", "1"), ("dec", "1"), ("band", "0.5 0.6")], "band", "band '0.5 0.6': no band in this wavelength interval"),
    ([("ra", "1"), ("dec", "1"), ("band", "1 x")], "band", "band '1 x': expected one of"),
    ([("ra", "1"), ("dec", "1"), ("format", "jpeg")], "format", "format 'jpeg': expected one of"),
    ([("ra", "1"), ("dec", "1"), ("scaling", "log")], "scaling", "scaling 'log'"),
    ([("ra", "1"), ("dec", "1"), ("colormap", "jet")], "colormap", "colormap 'jet'"),
    ([("ra", "1"), ("dec", "1"), ("bundle", "rar")], "bundle", "bundle 'rar'"),
    ([("ra", "1"), ("dec", "1"), ("axes", "maybe")], "axes", "'maybe'"),
    ([("ra", "1"), ("dec", "1"), ("ID", "")], "ID", "map or field name"),
    ([("ra", "1"), ("dec", "1"), ("colour", "red")], "colour", "unknown parameter 'colour'"),
    ([("POS", "CIRCLE 1 2 0.1"), ("name", "a"), ("name", "b")], "name", "2 names for 1"),
    ([("positions", "x,y\n1,2\n")], "positions", "no ra or dec column"),
    ([("positions", "name,ra\nA,2\n")], "positions", "no dec column"),
    ([("positions", "ra,dec\n1,2\n1,abc\n")], "positions", "positions row 2 'abc': dec 'abc' is not a number"),
    ([("positions", "ra,dec\n1,2\n400,2\n")], "positions", "row 2 '400': ra 400 is outside"),
    ([("positions", "ra,dec,size\n1,2,-3\n")], "positions", "row 1 '-3': size must be in"),
    ([("positions", "# nothing\n")], "positions", "the table is empty"),
    ([("positions", "<VOTABLE><RESOURCE>")], "positions", "not valid XML"),
    ([("positions", "<VOTABLE/>")], "positions", "no TABLE"),
    (
        [
            (
                "positions",
                '<VOTABLE><RESOURCE><TABLE><FIELD name="ra"/><FIELD name="dec"/><DATA><BINARY/></DATA>'
                "</TABLE></RESOURCE></VOTABLE>",
            )
        ],
        "positions",
        "BINARY serialisation is not supported",
    ),
    (
        [
            (
                "positions",
                '<VOTABLE><RESOURCE><TABLE><FIELD name="ra"/><FIELD name="dec"/><DATA><TABLEDATA>'
                "<TR><TD>1</TD><TD>99</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>",
            )
        ],
        "positions",
        "row 1 '99': dec 99 is outside",
    ),
]


@pytest.mark.parametrize(("pairs", "parameter", "message"), BAD, ids=[f"{i}-{b[1]}" for i, b in enumerate(BAD)])
def test_bad_parameters(pairs: list[tuple[str, str]], parameter: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        CutoutParams.from_uws(pairs)
    assert message in info.value.message
    assert info.value.parameter == parameter
    assert info.value.status == 400


def test_too_many_positions() -> None:
    rows = "\n".join(f"{i % 360},{-10}" for i in range(MAX_POSITIONS + 1))
    with pytest.raises(UsageError, match=f"more than {MAX_POSITIONS} rows"):
        params(("positions", "ra,dec\n" + rows))
