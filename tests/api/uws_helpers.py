"""Helpers shared by the API tests: reading UWS documents and waiting on jobs without sleeps.

Every wait here is either a UWS ``WAIT`` request (the server blocks, we do not) or a loop
bounded by a deadline; nothing calls ``time.sleep``.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

import httpx

from tests.support.uws_xsd import UWS_NS, XLINK_NS, validate_uws

__all__ = [
    "ACTIVE",
    "JSON",
    "UWS_NS",
    "XLINK_NS",
    "XSI_NS",
    "ZTIME",
    "children",
    "form",
    "get_job",
    "get_job_xml",
    "job_id_of",
    "parse_time",
    "q",
    "wait_for_phase",
    "wait_until_final",
]

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
JSON = {"Accept": "application/json"}
ACTIVE = frozenset({"PENDING", "QUEUED", "EXECUTING"})
#: UWS §2.2.1: ISO 8601, UTC, with the Z designator.
ZTIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Keyword arguments of an httpx request sending ordered, repeatable form pairs."""
    return {"content": urlencode(pairs), "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


def q(name: str) -> str:
    return f"{{{UWS_NS}}}{name}"


def job_id_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def parse_time(text: str) -> datetime:
    assert ZTIME.match(text), f"not an ISO 8601 UTC time with Z: {text!r}"
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def children(element: ET.Element) -> list[str]:
    """Local names of the UWS children, in document order."""
    return [child.tag.split("}", 1)[1] for child in element]


def get_job(
    client: httpx.Client, job_url: str, *, headers: dict[str, str] | None = None, **params: Any
) -> dict[str, Any]:
    """The job's JSON document (``headers``: more request headers, e.g. a user's bearer token)."""
    response = client.get(job_url, params=params, headers={**JSON, **(headers or {})})
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


def get_job_xml(client: httpx.Client, job_url: str, **params: Any) -> ET.Element:
    """The job's XML document, validated against the UWS 1.1 schema."""
    response = client.get(job_url, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/xml")
    validate_uws(response.content, require_version="1.1")
    return ET.fromstring(response.content)


def wait_for_phase(
    client: httpx.Client,
    job_url: str,
    phases: set[str] | frozenset[str],
    timeout: float = 30,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Follow the job with WAIT (PHASE = the phase last seen) until it is in one of ``phases``."""
    deadline = time.monotonic() + timeout
    job = get_job(client, job_url, headers=headers)
    while job["phase"] not in phases:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"job still {job['phase']} after {timeout}s, wanted {sorted(phases)}"
        assert job["phase"] in ACTIVE, f"job ended {job['phase']}, wanted {sorted(phases)}: {job}"
        job = get_job(client, job_url, headers=headers, WAIT=max(1, min(5, int(remaining))), PHASE=job["phase"])
    return job


def wait_until_final(
    client: httpx.Client, job_url: str, timeout: float = 30, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return wait_for_phase(client, job_url, {"COMPLETED", "ERROR", "ABORTED", "HELD", "ARCHIVED"}, timeout, headers)
