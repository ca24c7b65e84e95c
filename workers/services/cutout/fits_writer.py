"""Writing a cutout as FITS: its header (WCS, units, provenance) and the file's bytes."""

from __future__ import annotations

import warnings
from collections import OrderedDict
from pathlib import Path
from typing import IO, Any

import numpy as np
from astropy.io import fits
from astropy.wcs import FITSFixedWarning

from workers.services.cutout.cut import Cutout

__all__ = ["COPY_KEYWORDS", "cutout_header", "fits_bytes", "fits_text", "write_fits"]

#: Source-map keywords copied into every cutout for provenance.
COPY_KEYWORDS = ("TELESCOP", "INSTRUME", "OBSERVER", "DATE-OBS", "BEAMFWHM", "NOISE")


def fits_text(text: str) -> str:
    """Printable ASCII for a header value (FITS allows nothing else); others become ``?``."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def cutout_header(cutout: Cutout) -> fits.Header:
    """The cutout's WCS plus units and provenance (source file, HDU, map, band, position)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        header = cutout.wcs.to_header(relax=True)
    entry, target = cutout.entry, cutout.target
    source = cutout.source_header
    if entry.bunit:
        header["BUNIT"] = (entry.bunit, "pixel units (from the source map)")
    for key in COPY_KEYWORDS:
        if key in source:
            header[key] = (source[key], source.comments[key])
    cards: list[tuple[str, Any, str]] = [
        ("ORIGFILE", fits_text(entry.file), "source map file"),
        ("ORIGHDU", entry.hdu, "source HDU index"),
        ("ORIGEXT", entry.extname, "source HDU EXTNAME"),
        ("ORIGX0", cutout.origin[0], "source-map pixel (0-based) at cutout x=0"),
        ("ORIGY0", cutout.origin[1], "source-map pixel (0-based) at cutout y=0"),
        ("MAPNAME", fits_text(entry.map), "map / field name"),
        ("RELEASE", fits_text(entry.release), "map release"),
        ("BAND", entry.band, "[GHz] observing band"),
        ("CUTNAME", fits_text(target.name), "position name"),
        ("CUTRA", target.ra, "[deg] requested centre, ICRS"),
        ("CUTDEC", target.dec, "[deg] requested centre, ICRS"),
    ]
    for key, value, comment in cards:
        if value is None or value == "":
            continue
        # Long values (file and position names) keep the whole value: the
        # comment goes instead, and astropy continues long strings (CONTINUE).
        header[key] = (value, comment) if len(str(value)) + len(comment) < 60 else value
    # No comment: a POLYGON can be longer than one card, and astropy then
    # continues the value over CONTINUE cards, which a comment would truncate.
    header["CUTPOS"] = target.pos
    header["CUTPART"] = (cutout.partial, "partial overlap, padded with NaN")
    return header


#: Cards that change from one cutout of a map HDU to the next; every other card
#: of :func:`cutout_header` is the same for all cutouts of that HDU.
_VARYING = ("CRPIX1", "CRPIX2", "ORIGX0", "ORIGY0", "CUTNAME", "CUTRA", "CUTDEC", "CUTPOS", "CUTPART")
_STRUCTURE = ("SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND")
_BLOCK = 2880
_CONSTANT_CARDS: OrderedDict[tuple[str, str, float], str] = OrderedDict()


def _constant_cards(cutout: Cutout) -> str:
    """The card images shared by every cutout of the cutout's HDU (cached)."""
    entry = cutout.entry
    key = (entry.location, entry.key, entry.mtime)
    images = _CONSTANT_CARDS.get(key)
    if images is None:
        header = cutout_header(cutout)
        images = "".join(
            card.image for card in header.cards if card.keyword not in _VARYING and card.keyword not in _STRUCTURE
        )
        _CONSTANT_CARDS[key] = images
        if len(_CONSTANT_CARDS) > 256:
            _CONSTANT_CARDS.popitem(last=False)
    return images


def fits_bytes(cutout: Cutout) -> bytes:
    """The cutout as a FITS file (the header of :func:`cutout_header`, the pixels as float).

    Written directly rather than through ``PrimaryHDU.writeto``: astropy builds
    and verifies ~40 header cards per file, which costs more than the cut
    itself; here the cards shared by all cutouts of a map HDU are formatted
    once and only the nine that vary are formatted per cutout. The result reads
    back identical (see the tests).
    """
    data = cutout.data
    if data.dtype.kind != "f":
        data = data.astype(np.float32)
    bitpix = -8 * data.dtype.itemsize
    ny, nx = data.shape
    target = cutout.target
    crpix = cutout.wcs.wcs.crpix
    cards = [
        fits.Card("SIMPLE", True, "conforms to FITS standard"),
        fits.Card("BITPIX", bitpix, "array data type"),
        fits.Card("NAXIS", 2, "number of array dimensions"),
        fits.Card("NAXIS1", nx),
        fits.Card("NAXIS2", ny),
        fits.Card("CRPIX1", float(crpix[0]), "Pixel coordinate of reference point"),
        fits.Card("CRPIX2", float(crpix[1]), "Pixel coordinate of reference point"),
    ]
    tail = [
        fits.Card("ORIGX0", cutout.origin[0], "source-map pixel (0-based) at cutout x=0"),
        fits.Card("ORIGY0", cutout.origin[1], "source-map pixel (0-based) at cutout y=0"),
    ]
    if target.name:
        name = fits_text(target.name)
        tail.append(fits.Card("CUTNAME", name, "position name" if len(name) + 13 < 60 else ""))
    tail += [
        fits.Card("CUTRA", target.ra, "[deg] requested centre, ICRS"),
        fits.Card("CUTDEC", target.dec, "[deg] requested centre, ICRS"),
        fits.Card("CUTPOS", target.pos),
        fits.Card("CUTPART", cutout.partial, "partial overlap, padded with NaN"),
    ]
    text = "".join(c.image for c in cards) + _constant_cards(cutout) + "".join(c.image for c in tail)
    text += "END".ljust(80)
    head = text.ljust(-(-len(text) // _BLOCK) * _BLOCK).encode("ascii")
    body = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder(">")).tobytes()
    return head + body + b"\0" * (-len(body) % _BLOCK)


def write_fits(cutout: Cutout, destination: Path | IO[bytes]) -> None:
    data = fits_bytes(cutout)
    if isinstance(destination, Path):
        destination.write_bytes(data)
    else:
        destination.write(data)
