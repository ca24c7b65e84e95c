"""Cut correctness: sources at the centre with the right flux, WCS, partial overlap, PNGs, scaled maps."""

from __future__ import annotations

import io
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image

from workers.services.cutout.catalogue import Catalogue
from workers.services.cutout.cut import make_cutout
from workers.services.cutout.fits_writer import fits_bytes
from workers.services.cutout.map_reader import MapReader
from workers.services.cutout.maps import build_catalogue, load_catalogue
from workers.services.cutout.png import render_png
from workers.services.cutout.soda import parse_pos
from workers.services.cutout.target import Target, circle_target


def one(catalogue: Catalogue, target: Target, band: int) -> Any:
    (entry,) = catalogue.match(target.ra, target.dec, target.radius, bands=[band])
    with MapReader() as reader:
        cutout = make_cutout(reader, entry, target)
    assert cutout is not None
    return cutout


def picked(sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two sources of each field."""
    by_field: dict[str, list[dict[str, Any]]] = {}
    for source in sources:
        by_field.setdefault(source["field"], []).append(source)
    return [s for group in by_field.values() for s in group[:2]]


@pytest.mark.parametrize("band", [95, 150, 220])
def test_source_at_centre_with_right_flux(
    catalogue: Catalogue, sources: list[dict[str, Any]], demo: dict[str, Any], band: int
) -> None:
    pixel = demo["pixel_scale_arcmin"]
    noise = demo["noise_per_pixel"][str(band)]
    sigma = demo["beam_fwhm_arcmin"][str(band)] / (2 * math.sqrt(2 * math.log(2))) / pixel
    for source in picked(sources):
        cutout = one(catalogue, circle_target("s", source["ra"], source["dec"], 0.1), band)
        data = np.asarray(cutout.data, dtype=float)
        ny, nx = data.shape
        assert nx % 2 == 1 and ny % 2 == 1
        cy, cx = ny // 2, nx // 2
        peak_y, peak_x = np.unravel_index(np.argmax(data), data.shape)
        assert abs(peak_x - cx) <= 1 and abs(peak_y - cy) <= 1, source["name"]
        # Peak: the source sits within half a pixel of the centre pixel, so the
        # brightest pixel holds at least exp(-0.5^2 / sigma^2) of the peak.
        expected_peak = source["peak"][str(band)]
        assert data.max() <= expected_peak + 5 * noise
        assert data.max() >= expected_peak * math.exp(-0.25 / sigma**2) - 5 * noise
        # Flux: aperture sum (4 sigma) in map units x arcmin^2 against sources.json.
        yy, xx = np.mgrid[:ny, :nx]
        px, py = cutout.position
        aperture = (xx - px) ** 2 + (yy - py) ** 2 <= (4 * sigma) ** 2
        flux = data[aperture].sum() * pixel**2
        tolerance = 5 * noise * math.sqrt(aperture.sum()) * pixel**2 + 0.01 * source["flux"][str(band)]
        assert flux == pytest.approx(source["flux"][str(band)], abs=tolerance), source["name"]


def test_wcs_centre_is_the_requested_position(catalogue: Catalogue, sources: list[dict[str, Any]]) -> None:
    for source in picked(sources):
        target = circle_target("s", source["ra"], source["dec"], 0.05)
        cutout = one(catalogue, target, 150)
        header = fits.getheader(io.BytesIO(fits_bytes(cutout)))
        wcs = WCS(header)
        # The requested position lies in the central pixel, at the recorded sub-pixel spot...
        x, y = wcs.world_to_pixel_values(target.ra, target.dec)
        assert (x, y) == pytest.approx(cutout.position, abs=1e-6)
        assert abs(x - header["NAXIS1"] // 2) <= 0.5 and abs(y - header["NAXIS2"] // 2) <= 0.5
        # ...and that spot maps back to exactly the requested ra/dec.
        ra, dec = wcs.pixel_to_world_values(*cutout.position)
        assert float(ra) % 360 == pytest.approx(target.ra, abs=1e-8)
        assert float(dec) == pytest.approx(target.dec, abs=1e-8)


def test_header_provenance_and_units(catalogue: Catalogue, sources: list[dict[str, Any]]) -> None:
    source = next(s for s in sources if s["field"] == "ra0hdec-59.75")
    target = circle_target("SPT J0000-60", source["ra"], source["dec"], 0.05)
    cutout = one(catalogue, target, 220)
    header = fits.getheader(io.BytesIO(fits_bytes(cutout)))
    assert header["BUNIT"] == "uK"
    assert header["ORIGFILE"] == "spt3g_ra0hdec-59.75.fits"
    assert header["ORIGHDU"] == 3
    assert header["ORIGEXT"] == "T_220"
    assert header["MAPNAME"] == "ra0hdec-59.75"
    assert header["RELEASE"] == "demo-v1"
    assert header["BAND"] == 220
    assert header["CUTNAME"] == "SPT J0000-60"
    assert header["CUTRA"] == target.ra and header["CUTDEC"] == target.dec
    assert header["CUTPOS"] == target.pos
    assert header["CUTPART"] is False
    assert header["BEAMFWHM"] == 1.1
    assert header["CTYPE1"] == "RA---ZEA"
    # The cutout's pixels are the map's pixels at ORIGX0/ORIGY0.
    full = fits.getdata(catalogue.directory / "spt3g_ra0hdec-59.75.fits", 3)
    x0, y0 = header["ORIGX0"], header["ORIGY0"]
    ny, nx = cutout.data.shape
    np.testing.assert_array_equal(cutout.data, full[y0 : y0 + ny, x0 : x0 + nx])


def test_car_box_is_square_on_the_sky(catalogue: Catalogue) -> None:
    # At dec -30 a CAR pixel spans cos(30) of its nominal width in RA: a box 0.2
    # degrees wide needs ~1/cos(30) more pixels along x than along y.
    target = parse_pos("CIRCLE 75 -30 0.1")
    cutout = one(catalogue, target, 150)
    ny, nx = cutout.data.shape
    assert ny == 25  # 0.2 deg / 0.5' = 24 px, made odd
    assert nx == pytest.approx(24 / math.cos(math.radians(30)), abs=2)


def test_range_box(catalogue: Catalogue) -> None:
    target = parse_pos("RANGE 74 76 -31 -30")
    cutout = one(catalogue, target, 95)
    ny, nx = cutout.data.shape
    assert ny == 121  # 1 degree at 0.5'
    assert nx == 241  # 2 degrees of RA on a CAR grid
    wcs = cutout.wcs
    ras, _ = wcs.pixel_to_world_values([nx - 1, 0], [ny // 2, ny // 2])
    assert ras == pytest.approx([74, 76], abs=0.01)  # RA grows to the left


def test_partial_overlap_is_padded_with_nan(catalogue: Catalogue) -> None:
    entry = next(e for e in catalogue.entries if e.map == "ra5hdec-29.75" and e.band == 150)
    ra, dec = entry.wcs.wcs_pix2world([[-3.0, 300.0]], 0)[0]  # 3 pixels beyond the left edge
    target = circle_target("edge", float(ra), float(dec), 0.1)
    cutout = one(catalogue, target, 150)
    assert cutout.partial and cutout.status == "partial"
    assert "padded with NaN" in cutout.message
    data = cutout.data
    nan_columns = np.all(np.isnan(data), axis=0)
    assert nan_columns.sum() == data.shape[1] // 2 + 3  # centre column is pixel -3: it and left of it
    assert np.isfinite(data[:, ~nan_columns]).all()
    header = fits.getheader(io.BytesIO(fits_bytes(cutout)))
    assert header["CUTPART"] is True
    assert header["NAXIS1"] == data.shape[1]


def test_no_overlap(catalogue: Catalogue) -> None:
    entry = next(e for e in catalogue.entries if e.map == "ra5hdec-29.75")
    with MapReader() as reader:
        assert make_cutout(reader, entry, circle_target("far", 90.0, -29.75, 0.1)) is None


@pytest.mark.parametrize("scaling", ["linear", "asinh", "zscale"])
@pytest.mark.parametrize("axes", [False, True])
def test_png(catalogue: Catalogue, sources: list[dict[str, Any]], scaling: Any, axes: bool) -> None:
    source = sources[0]
    cutout = one(catalogue, circle_target("s", source["ra"], source["dec"], 0.05), 150)
    png = render_png(cutout, scaling=scaling, colormap="viridis", axes=axes)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    if not axes:
        # Pixel-exact, enlarged by an integer factor: 11x11 pixels -> 264x264.
        ny, nx = cutout.data.shape
        factor = image.size[0] // nx
        assert image.size == (nx * factor, ny * factor) and factor * nx >= 256
        rgba = np.asarray(image)
        cy, cx = (ny // 2) * factor, (nx // 2) * factor
        assert rgba[cy, cx, :3].sum() > rgba[0, 0, :3].sum()  # the source is brighter than a corner
    else:
        assert image.size == (640, 560)


def test_png_of_partial_cutout_is_transparent_outside(catalogue: Catalogue) -> None:
    entry = next(e for e in catalogue.entries if e.map == "ra5hdec-29.75" and e.band == 95)
    ra, dec = entry.wcs.wcs_pix2world([[300.0, 599.0]], 0)[0]  # on the top edge
    cutout = one(catalogue, circle_target("top", float(ra), float(dec), 0.05), 95)
    rgba = np.asarray(Image.open(io.BytesIO(render_png(cutout, scaling="linear"))))
    assert rgba[0, :, 3].max() == 0  # the top rows (north, beyond the edge) are transparent
    assert rgba[-1, :, 3].min() == 255


def test_scaled_integer_map(tmp_path: Path, maps_dir: Path) -> None:
    """BSCALE/BZERO maps are cut without scaling the whole map; the values come out scaled."""
    source = maps_dir / "spt3g_ra0hdec-44.75_150ghz.fits"
    floats = fits.getdata(source)
    header = fits.getheader(source)
    directory = tmp_path / "scaled"
    directory.mkdir()
    hdu = fits.PrimaryHDU(floats.astype(np.float32), header)
    hdu.scale("int16", bscale=0.25, bzero=100.0)
    hdu.header["BLANK"] = -32768
    hdu.data[0:5, 0:5] = -32768
    hdu.writeto(directory / "scaled.fits")
    shutil.copy(maps_dir / "spt3g_ra0hdec-44.75_150ghz.fits", directory / "float.fits")
    build_catalogue(directory)
    catalogue = load_catalogue(directory)
    target = circle_target("c", 0.0, -44.75, 0.05)
    scaled_entry = next(e for e in catalogue.entries if e.file == "scaled.fits")
    corner_ra, corner_dec = scaled_entry.wcs.wcs_pix2world([[1.0, 1.0]], 0)[0]
    with MapReader() as reader:
        cuts = {e.file: make_cutout(reader, e, target) for e in catalogue.match(0.0, -44.75, 0.05)}
        corner = make_cutout(reader, scaled_entry, circle_target("corner", float(corner_ra), float(corner_dec), 0.05))
    scaled, plain = cuts["scaled.fits"], cuts["float.fits"]
    assert scaled is not None and plain is not None
    assert scaled.data.dtype == np.float32
    np.testing.assert_allclose(scaled.data, plain.data, atol=0.13)  # quantised to bscale / 2
    # Off the edge (partial) and BLANK pixels both come out as NaN.
    assert corner is not None and corner.partial
    ny, nx = corner.data.shape
    blank = np.isnan(corner.data[ny // 2 - 1 : ny // 2 + 4, nx // 2 - 1 : nx // 2 + 4])
    assert blank.all()
    assert np.isnan(corner.data[:, 0]).all()


@pytest.mark.parametrize("name", ["s", "a name long enough that the position name card has no room for a comment"])
def test_fast_fits_writer_matches_astropy(
    catalogue: Catalogue, sources: list[dict[str, Any]], tmp_path: Path, name: str
) -> None:
    from workers.services.cutout.fits_writer import cutout_header, write_fits

    source = sources[4]
    for target in (
        circle_target(name, source["ra"], source["dec"], 0.05),
        parse_pos(
            "POLYGON "
            + " ".join(
                f"{source['ra'] + dx} {source['dec'] + dy}"
                for dx, dy in [(-0.1, -0.1), (0.1, -0.1), (0.1, 0.1), (-0.1, 0.1), (0, 0.15), (-0.05, 0.12)]
            )
        ),
    ):
        cutout = one(catalogue, target, 95)
        reference = tmp_path / "reference.fits"
        fits.PrimaryHDU(cutout.data, cutout_header(cutout)).writeto(reference, overwrite=True)
        fast = tmp_path / "fast.fits"
        write_fits(cutout, fast)
        with fits.open(fast) as mine, fits.open(reference) as theirs:
            mine.verify("exception")
            assert dict(mine[0].header) == dict(theirs[0].header)
            np.testing.assert_array_equal(mine[0].data, theirs[0].data)
        assert fast.stat().st_size % 2880 == 0
