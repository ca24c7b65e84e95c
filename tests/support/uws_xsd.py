"""Validate UWS 1.1 XML documents against the vendored IVOA schema (``tests/data/uws/UWS.xsd``).

The schema imports XLink from a local copy (``tests/data/uws/xlink.xsd``), so validation works
offline; see ``tests/data/uws/README.md`` for the source and the one change made to it::

    from tests.support.uws_xsd import validate_uws
    validate_uws(response.body)   # AssertionError with the schema's message if invalid

Note that the schema is looser than the 1.1 text in places (``version`` and ``creationTime``
are optional in the XSD); check those separately where it matters.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from xml.etree import ElementTree

import xmlschema

__all__ = ["UWS_NS", "UWS_XSD", "XLINK_NS", "uws_schema", "validate_uws"]

UWS_NS = "http://www.ivoa.net/xml/UWS/v1.0"
XLINK_NS = "http://www.w3.org/1999/xlink"
UWS_XSD = Path(__file__).resolve().parent.parent / "data" / "uws" / "UWS.xsd"


@cache
def uws_schema() -> xmlschema.XMLSchema10:
    """The UWS 1.1 schema, loaded once (no network access: remote imports are refused)."""
    return xmlschema.XMLSchema10(str(UWS_XSD), allow="local")


def validate_uws(xml: bytes | str, *, require_version: str | None = None) -> None:
    """Validate a UWS document (``<uws:job>``, ``<uws:jobs>``, ``<uws:results>``, ...).

    Parameters
    ----------
    xml
        The document, as bytes (encoding from the XML declaration) or str.
    require_version
        If given, a ``<uws:job>`` or ``<uws:jobs>`` root must carry ``version`` equal to it.
        The UWS 1.1 text requires ``version="1.1"`` (section 2.2.1.1), but the schema leaves the
        attribute optional and free-form, so only this check catches it.

    Raises
    ------
    AssertionError
        If the document is not well-formed or not valid; the message is the schema's.
    """
    try:
        uws_schema().validate(io.BytesIO(xml) if isinstance(xml, bytes) else io.StringIO(xml))
    except xmlschema.XMLSchemaValidationError as exc:
        raise AssertionError(f"UWS document is not schema-valid: {exc.reason}\n{exc}") from None
    except xmlschema.XMLResourceError as exc:  # not well-formed, or a forbidden resource
        raise AssertionError(f"UWS document could not be parsed: {exc}") from None
    if require_version is not None:
        root = ElementTree.fromstring(xml)
        if root.tag in (f"{{{UWS_NS}}}job", f"{{{UWS_NS}}}jobs"):
            found = root.get("version")
            assert found == require_version, (
                f"UWS document is not schema-valid: version={found!r} on <{root.tag}>, "
                f"expected {require_version!r}"
            )
