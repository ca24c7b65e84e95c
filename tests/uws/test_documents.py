"""Unit tests of ``spt_api.uws.documents``: element order, xsi:nil, Z times, XSD validity."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from xml.etree import ElementTree as ET

import jsonschema
import pytest

from spt_api.uws import documents, json_documents
from spt_api.uws.documents import format_datetime
from spt_api.uws.models import ErrorSummary, ErrorType, Job, JobRef, JobResult, Progress
from spt_api.uws.phases import ExecutionPhase
from tests.support.uws_xsd import UWS_NS, XLINK_NS, validate_uws

XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
CREATED = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
JOB_ORDER = [
    "jobId", "runId", "ownerId", "phase", "quote", "creationTime", "startTime", "endTime",
    "executionDuration", "destruction", "parameters", "results", "errorSummary", "jobInfo",
]


def q(name: str) -> str:
    return f"{{{UWS_NS}}}{name}"


def names(element: ET.Element) -> list[str]:
    return [child.tag.split("}", 1)[1] for child in element]


def result_url(result: JobResult) -> str:
    return f"https://example.org/api/echo/jobs/j1/results/{result.result_id}"


def pending_job(**changes: object) -> Job:
    values: dict[str, object] = {
        "job_id": "j1",
        "service": "echo",
        "owner": None,
        "phase": ExecutionPhase.PENDING,
        "creation_time": CREATED,
        "execution_duration": 600,
        "destruction_time": None,
    }
    values.update(changes)
    return Job(**values)  # type: ignore[arg-type]


def full_job(**changes: object) -> Job:
    values: dict[str, object] = {
        "owner": "alice",
        "run_id": "run-7",
        "phase": ExecutionPhase.COMPLETED,
        "quote": CREATED + timedelta(minutes=5),
        "start_time": CREATED + timedelta(seconds=1),
        "end_time": CREATED + timedelta(seconds=2),
        "destruction_time": CREATED + timedelta(days=7),
        "parameters": (("message", "hello"), ("pos", "CIRCLE 1 2 3"), ("pos", "CIRCLE 4 5 6")),
        "results": (
            JobResult("message", "echo/j1/message", "text/plain", 5),
            JobResult("blob", "echo/j1/blob", None, None),
        ),
        "progress": Progress(2, 2, "done"),
    }
    values.update(changes)
    return pending_job(**values)


def parse_job(job: Job) -> ET.Element:
    xml = documents.job_to_xml(job, result_url)
    assert xml.startswith(b"<?xml")
    validate_uws(xml, require_version="1.1")
    return ET.fromstring(xml)


# -- format_datetime ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC), "2030-01-02T03:04:05Z"),
        (datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC), "2030-01-02T03:04:05.678Z"),
        (datetime(2030, 1, 2, 3, 4, 5, 678999, tzinfo=UTC), "2030-01-02T03:04:05.678Z"),
        (datetime(2030, 1, 2, 3, 4, 5), "2030-01-02T03:04:05Z"),  # naive is UTC
        (datetime(2030, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))), "2030-01-02T03:04:05Z"),
        (datetime(2030, 1, 1, 23, 0, tzinfo=timezone(timedelta(hours=-5))), "2030-01-02T04:00:00Z"),
        (None, ""),
    ],
)
def test_format_datetime_is_utc_with_z(value: datetime | None, text: str) -> None:
    assert format_datetime(value) == text


# -- <uws:job> ---------------------------------------------------------------------------------------


def test_pending_job_has_required_elements_and_nils() -> None:
    root = parse_job(pending_job())
    assert root.tag == q("job")
    assert root.attrib["version"] == "1.1"
    assert names(root) == [
        "jobId", "ownerId", "phase", "quote", "creationTime", "startTime", "endTime",
        "executionDuration", "destruction", "parameters", "results", "jobInfo",
    ]
    for nil in ("ownerId", "quote", "startTime", "endTime", "destruction"):
        element = root.find(q(nil))
        assert element is not None
        assert element.attrib.get(XSI_NIL) == "true", nil
        assert not element.text
    assert root.findtext(q("creationTime")) == "2030-01-02T03:04:05.678Z"
    assert root.findtext(q("executionDuration")) == "600"
    assert root.findtext(q("phase")) == "PENDING"
    assert root.find(q("runId")) is None
    assert root.find(q("errorSummary")) is None
    assert list(root.find(q("results"))) == []  # type: ignore[arg-type]


def test_full_job_order_and_values() -> None:
    root = parse_job(full_job())
    assert names(root) == [n for n in JOB_ORDER if n != "errorSummary"]
    assert root.findtext(q("runId")) == "run-7"
    assert root.findtext(q("ownerId")) == "alice"
    assert root.find(q("ownerId")).attrib.get(XSI_NIL) is None  # type: ignore[union-attr]
    assert root.findtext(q("quote")) == "2030-01-02T03:09:05.678Z"
    assert root.findtext(q("startTime")) == "2030-01-02T03:04:06.678Z"
    assert root.findtext(q("endTime")) == "2030-01-02T03:04:07.678Z"
    assert root.findtext(q("destruction")) == "2030-01-09T03:04:05.678Z"
    for tag in ("quote", "creationTime", "startTime", "endTime", "destruction"):
        assert (root.findtext(q(tag)) or "").endswith("Z")


def test_parameters_keep_order_and_repeats() -> None:
    root = parse_job(full_job())
    params = root.find(q("parameters"))
    assert params is not None
    assert [(p.attrib["id"], p.text) for p in params] == [
        ("message", "hello"), ("pos", "CIRCLE 1 2 3"), ("pos", "CIRCLE 4 5 6"),
    ]


def test_results_have_links_and_optional_hints() -> None:
    results = parse_job(full_job()).find(q("results"))
    assert results is not None
    message, blob = list(results)
    assert message.attrib == {
        "id": "message",
        f"{{{XLINK_NS}}}type": "simple",
        f"{{{XLINK_NS}}}href": "https://example.org/api/echo/jobs/j1/results/message",
        "size": "5",
        "mime-type": "text/plain",
    }
    assert "size" not in blob.attrib and "mime-type" not in blob.attrib
    assert blob.attrib[f"{{{XLINK_NS}}}href"].endswith("/results/blob")


@pytest.mark.parametrize("error_type", list(ErrorType))
def test_error_summary_position_and_plain_message(error_type: ErrorType) -> None:
    message = "bad <input> & \"quotes\" ]]>"
    job = full_job(phase=ExecutionPhase.ERROR, results=(), error=ErrorSummary(error_type, message, "trace"))
    root = parse_job(job)
    assert names(root) == JOB_ORDER
    summary = root.find(q("errorSummary"))
    assert summary is not None
    assert summary.attrib == {"type": error_type.value, "hasDetail": "true"}
    assert names(summary) == ["message"]
    assert summary.findtext(q("message")) == message  # escaped text, not markup
    assert list(summary.find(q("message"))) == []  # type: ignore[arg-type]


def test_job_info_carries_service_and_progress() -> None:
    info = parse_job(full_job()).find(q("jobInfo"))
    assert info is not None
    service, progress = list(info)
    assert service.tag == f"{{{documents.SPT_NS}}}service" and service.text == "echo"
    assert progress.attrib == {"done": "2", "total": "2"} and progress.text == "done"


@pytest.mark.parametrize("phase", list(ExecutionPhase))
def test_every_phase_is_schema_valid(phase: ExecutionPhase) -> None:
    assert parse_job(full_job(phase=phase)).findtext(q("phase")) == phase.value


def test_unicode_and_control_free_text_round_trips() -> None:
    job = full_job(parameters=(("message", "héllo ✓ 東京"),), run_id="ünï")
    root = parse_job(job)
    assert root.findtext(q("runId")) == "ünï"
    assert root.find(q("parameters"))[0].text == "héllo ✓ 東京"  # type: ignore[index]


# -- <uws:jobs>, <uws:results>, <uws:parameters> -----------------------------------------------------


def job_ref(job_id: str, **changes: object) -> JobRef:
    values: dict[str, object] = {
        "job_id": job_id,
        "service": "echo",
        "phase": ExecutionPhase.PENDING,
        "run_id": None,
        "owner": None,
        "creation_time": CREATED,
    }
    values.update(changes)
    return JobRef(**values)  # type: ignore[arg-type]


def test_job_list_refs_in_short_description_order() -> None:
    refs = [
        job_ref("a"),
        job_ref("b", run_id="r", owner="bob", phase=ExecutionPhase.ARCHIVED,
                creation_time=datetime(2030, 1, 1, 12, tzinfo=timezone(timedelta(hours=1)))),
    ]
    xml = documents.jobs_to_xml(refs, lambda ref: f"https://example.org/jobs/{ref.job_id}")
    validate_uws(xml, require_version="1.1")
    root = ET.fromstring(xml)
    assert root.tag == q("jobs") and root.attrib["version"] == "1.1"
    first, second = list(root)
    assert first.attrib["id"] == "a"
    assert first.attrib[f"{{{XLINK_NS}}}href"] == "https://example.org/jobs/a"
    assert first.attrib[f"{{{XLINK_NS}}}type"] == "simple"
    assert names(first) == ["phase", "ownerId", "creationTime"]
    assert first.find(q("ownerId")).attrib[XSI_NIL] == "true"  # type: ignore[union-attr]
    assert names(second) == ["phase", "runId", "ownerId", "creationTime"]
    assert second.findtext(q("ownerId")) == "bob"
    assert second.findtext(q("creationTime")) == "2030-01-01T11:00:00Z"


def test_empty_job_list() -> None:
    xml = documents.jobs_to_xml([], lambda ref: "")
    validate_uws(xml, require_version="1.1")
    assert list(ET.fromstring(xml)) == []
    empty = json_documents.job_list_document([], lambda ref: "")
    assert empty.model_dump(mode="json") == {"version": "1.1", "jobs": []}


def test_results_and_parameters_documents() -> None:
    job = full_job()
    results = documents.results_to_xml(job, result_url)
    validate_uws(results)
    root = ET.fromstring(results)
    assert root.tag == q("results")
    assert [r.attrib["id"] for r in root] == ["message", "blob"]
    params = documents.parameters_to_xml(job)
    validate_uws(params)
    root = ET.fromstring(params)
    assert root.tag == q("parameters")
    assert [p.attrib["id"] for p in root] == ["message", "pos", "pos"]
    empty = pending_job()
    validate_uws(documents.results_to_xml(empty, result_url))
    validate_uws(documents.parameters_to_xml(empty))


# -- JSON twins --------------------------------------------------------------------------------------


def test_job_json_mirrors_the_xml() -> None:
    job = full_job(phase=ExecutionPhase.ERROR, error=ErrorSummary(ErrorType.TRANSIENT, "later"))
    data = json.loads(json_documents.job_document(job, result_url, "https://example.org/api/echo/jobs/j1").model_dump_json())
    root = parse_job(job)
    assert data["jobId"] == "j1" and data["href"] == "https://example.org/api/echo/jobs/j1"
    for key in ("creationTime", "startTime", "endTime", "destruction", "quote"):
        assert data[key] == root.findtext(q(key))
    assert data["parameters"] == {"message": ["hello"], "pos": ["CIRCLE 1 2 3", "CIRCLE 4 5 6"]}
    assert data["results"][0] == {
        "id": "message", "href": result_url(job.results[0]), "size": 5, "mimeType": "text/plain",
    }
    assert data["errorSummary"] == {"type": "transient", "hasDetail": True, "message": "later"}
    assert data["progress"] == {"done": 2, "total": 2, "message": "done"}


def test_pending_job_json_has_nulls() -> None:
    data = json.loads(json_documents.job_document(pending_job(), result_url, "u").model_dump_json())
    for key in ("runId", "ownerId", "quote", "startTime", "endTime", "destruction", "errorSummary", "progress"):
        assert data[key] is None, key
    assert data["results"] == [] and data["parameters"] == {}


def test_xml_illegal_characters_are_replaced() -> None:
    # The API rejects them in parameters; a job's error message may still carry any text.
    job = full_job(
        phase=ExecutionPhase.ERROR,
        parameters=(("message", "a\x01b"),),
        error=ErrorSummary(ErrorType.FATAL, "bad \x1b[31mcolour\x1b[0m \ud800 \uffff"),
        progress=Progress(1, 2, "step\x00"),
    )
    root = parse_job(job)
    assert root.findtext(q("errorSummary/") + q("message")) == "bad \ufffd[31mcolour\ufffd[0m \ufffd \ufffd"
    assert root.find(q("parameters"))[0].text == "a\ufffdb"  # type: ignore[index]
    validate_uws(documents.parameters_to_xml(job))
    # Tab, LF and CR are legal and kept.
    kept = parse_job(full_job(parameters=(("message", "a\tb\nc"),)))
    assert kept.find(q("parameters"))[0].text == "a\tb\nc"  # type: ignore[index]


def test_rendered_json_matches_the_schema_it_is_documented_by() -> None:
    # One source: the OpenAPI schemas are the models' own, so what is rendered validates against them.
    schemas = json_documents.component_schemas()
    resolver = {"components": {"schemas": schemas}}
    for name, document in [
        ("Job", json_documents.job_document(full_job(error=ErrorSummary(ErrorType.FATAL, "x")), result_url, "u")),
        ("Job", json_documents.job_document(pending_job(), result_url, "u")),
        ("JobList", json_documents.job_list_document([], lambda ref: "")),
        ("Results", json_documents.results_document(full_job(), result_url)),
    ]:
        schema = {**schemas[name], **resolver}
        jsonschema.validate(json.loads(document.model_dump_json()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"jobId": "j1"}, {**schemas["Job"], **resolver})
