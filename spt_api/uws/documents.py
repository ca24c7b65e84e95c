"""UWS 1.1 XML documents (UWS 1.1 Appendix B); their JSON twins are in :mod:`spt_api.uws.json_documents`.

The XML follows ``UWS.xsd`` (element order, ``xsi:nil`` for the nillable
elements, ``version="1.1"``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from spt_api.uws.models import Job, JobRef, JobResult

__all__ = [
    "UWS_NS",
    "format_datetime",
    "job_to_xml",
    "jobs_to_xml",
    "parameters_to_xml",
    "results_to_xml",
    "votable_error",
]

UWS_NS = "http://www.ivoa.net/xml/UWS/v1.0"
XLINK_NS = "http://www.w3.org/1999/xlink"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SPT_NS = "urn:spt-api"

ET.register_namespace("uws", UWS_NS)
ET.register_namespace("xlink", XLINK_NS)
ET.register_namespace("xsi", XSI_NS)
ET.register_namespace("spt", SPT_NS)

ResultUrl = Callable[[JobResult], str]


def format_datetime(value: datetime | None) -> str:
    """ISO 8601 in UTC with the ``Z`` designator (UWS §2.2.1); empty for None."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    return text + "Z"


#: Characters XML 1.0 cannot contain; a job's error message may hold any text, so they are replaced.
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str) -> str:
    """``text`` with XML-illegal characters replaced by U+FFFD, so the document stays well-formed."""
    return XML_ILLEGAL.sub("\ufffd", text)


def _q(name: str) -> str:
    return f"{{{UWS_NS}}}{name}"


def _text(parent: ET.Element, name: str, value: str) -> ET.Element:
    el = ET.SubElement(parent, _q(name))
    el.text = _clean(value)
    return el


def _nillable(parent: ET.Element, name: str, value: str | None) -> None:
    el = ET.SubElement(parent, _q(name))
    if value is None or value == "":
        el.set(f"{{{XSI_NS}}}nil", "true")
    else:
        el.text = _clean(value)


def _dt(value: datetime | None) -> str | None:
    return format_datetime(value) if value is not None else None


def _serialize(root: ET.Element) -> bytes:
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    # ElementTree writes a CR in text content as is, and every XML parser reads it back as LF
    # (XML 1.0 §2.11): a character reference keeps it. Attributes are already escaped, so any CR
    # left in the document is from text content.
    return body.replace(b"\r", b"&#13;")


def _add_parameters(parent: ET.Element, job: Job) -> None:
    _fill_parameters(ET.SubElement(parent, _q("parameters")), job)


def _fill_parameters(params: ET.Element, job: Job) -> None:
    for name, value in job.parameters:
        el = ET.SubElement(params, _q("parameter"), {"id": _clean(name)})
        el.text = _clean(value)


def _add_results(parent: ET.Element, job: Job, result_url: ResultUrl) -> None:
    _fill_results(ET.SubElement(parent, _q("results")), job, result_url)


def _fill_results(results: ET.Element, job: Job, result_url: ResultUrl) -> None:
    for result in job.results:
        attrs = {
            "id": result.result_id,
            f"{{{XLINK_NS}}}type": "simple",
            f"{{{XLINK_NS}}}href": result_url(result),
        }
        if result.size is not None:
            attrs["size"] = str(result.size)
        if result.mime_type:
            attrs["mime-type"] = result.mime_type
        ET.SubElement(results, _q("result"), attrs)


def job_to_xml(job: Job, result_url: ResultUrl) -> bytes:
    """Render ``<uws:job version="1.1">`` with children in the JobSummary order."""
    root = ET.Element(_q("job"), {"version": "1.1"})
    _text(root, "jobId", job.job_id)
    if job.run_id is not None:
        _text(root, "runId", job.run_id)
    _nillable(root, "ownerId", job.owner_id)
    _text(root, "phase", job.phase.value)
    _nillable(root, "quote", _dt(job.quote))
    _text(root, "creationTime", format_datetime(job.creation_time))
    _nillable(root, "startTime", _dt(job.start_time))
    _nillable(root, "endTime", _dt(job.end_time))
    _text(root, "executionDuration", str(job.execution_duration))
    _nillable(root, "destruction", _dt(job.destruction_time))
    _add_parameters(root, job)
    _add_results(root, job, result_url)
    if job.error is not None:
        summary = ET.SubElement(
            root,
            _q("errorSummary"),
            {"type": job.error.error_type.value, "hasDetail": "true"},
        )
        _text(summary, "message", job.error.message)
    info = ET.SubElement(root, _q("jobInfo"))
    service = ET.SubElement(info, f"{{{SPT_NS}}}service")
    service.text = job.service
    if job.progress is not None:
        progress = ET.SubElement(
            info,
            f"{{{SPT_NS}}}progress",
            {"done": str(job.progress.done), "total": str(job.progress.total)},
        )
        progress.text = _clean(job.progress.message)
    return _serialize(root)


def jobs_to_xml(jobs: Iterable[JobRef], job_url: Callable[[JobRef], str]) -> bytes:
    """Render ``<uws:jobs version="1.1">`` of jobrefs (XSD ShortJobDescription order)."""
    root = ET.Element(_q("jobs"), {"version": "1.1"})
    for job in jobs:
        ref = ET.SubElement(
            root,
            _q("jobref"),
            {"id": job.job_id, f"{{{XLINK_NS}}}type": "simple", f"{{{XLINK_NS}}}href": job_url(job)},
        )
        _text(ref, "phase", job.phase.value)
        if job.run_id is not None:
            _text(ref, "runId", job.run_id)
        _nillable(ref, "ownerId", job.owner_id)
        _text(ref, "creationTime", format_datetime(job.creation_time))
    return _serialize(root)


def results_to_xml(job: Job, result_url: ResultUrl) -> bytes:
    root = ET.Element(_q("results"))
    _fill_results(root, job, result_url)
    return _serialize(root)


def parameters_to_xml(job: Job) -> bytes:
    root = ET.Element(_q("parameters"))
    _fill_parameters(root, job)
    return _serialize(root)


VOTABLE_NS = "http://www.ivoa.net/xml/VOTable/v1.3"


def votable_error(message: str) -> bytes:
    """A DALI error document as a VOTable (DALI §4.2): ``INFO name="QUERY_STATUS" value="ERROR"``."""
    root = ET.Element(f"{{{VOTABLE_NS}}}VOTABLE", {"version": "1.4"})
    resource = ET.SubElement(root, f"{{{VOTABLE_NS}}}RESOURCE", {"type": "results"})
    info = ET.SubElement(resource, f"{{{VOTABLE_NS}}}INFO", {"name": "QUERY_STATUS", "value": "ERROR"})
    info.text = _clean(message)
    return _serialize(root)
