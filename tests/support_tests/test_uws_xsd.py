"""Tests of ``tests.support.uws_xsd.validate_uws`` on hand-written UWS 1.1 documents."""

from __future__ import annotations

import pytest

from tests.support.uws_xsd import validate_uws

NS = (
    'xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" '
    'xmlns:xlink="http://www.w3.org/1999/xlink" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
)

# A PENDING job: every required nillable element present with xsi:nil, jobInfo in a foreign namespace.
PENDING_JOB = f"""<?xml version="1.0" encoding="UTF-8"?>
<uws:job {NS} version="1.1">
  <uws:jobId>abc123</uws:jobId>
  <uws:runId>my-run</uws:runId>
  <uws:ownerId xsi:nil="true"/>
  <uws:phase>PENDING</uws:phase>
  <uws:quote xsi:nil="true"/>
  <uws:creationTime>2024-05-01T12:00:00Z</uws:creationTime>
  <uws:startTime xsi:nil="true"/>
  <uws:endTime xsi:nil="true"/>
  <uws:executionDuration>600</uws:executionDuration>
  <uws:destruction xsi:nil="true"/>
  <uws:parameters>
    <uws:parameter id="pos">CIRCLE 10 20 0.5</uws:parameter>
    <uws:parameter id="id">a</uws:parameter>
    <uws:parameter id="id">b</uws:parameter>
    <uws:parameter id="upload" byReference="true">https://example.org/jobs/abc123/parameters/upload</uws:parameter>
  </uws:parameters>
  <uws:results/>
  <uws:jobInfo>
    <spt:service xmlns:spt="urn:example:spt">echo</spt:service>
  </uws:jobInfo>
</uws:job>
"""

COMPLETED_JOB = f"""<uws:job {NS} version="1.1">
  <uws:jobId>j2</uws:jobId>
  <uws:ownerId>alice</uws:ownerId>
  <uws:phase>ERROR</uws:phase>
  <uws:creationTime>2024-05-01T12:00:00Z</uws:creationTime>
  <uws:startTime>2024-05-01T12:00:01.250Z</uws:startTime>
  <uws:endTime>2024-05-01T12:00:09Z</uws:endTime>
  <uws:executionDuration>0</uws:executionDuration>
  <uws:destruction>2024-05-08T12:00:00Z</uws:destruction>
  <uws:results>
    <uws:result id="log" xlink:type="simple" xlink:href="https://example.org/r/log.txt"
                size="42" mime-type="text/plain"/>
    <uws:result id="partial" xlink:href="https://example.org/r/partial.fits"/>
  </uws:results>
  <uws:errorSummary type="fatal" hasDetail="true">
    <uws:message>Out of range: RA must be in [0, 360)</uws:message>
  </uws:errorSummary>
</uws:job>
"""

JOB_LIST = f"""<uws:jobs {NS} version="1.1">
  <uws:jobref id="abc123" xlink:type="simple" xlink:href="https://example.org/jobs/abc123">
    <uws:phase>EXECUTING</uws:phase>
    <uws:runId>r1</uws:runId>
    <uws:ownerId xsi:nil="true"/>
    <uws:creationTime>2024-05-01T12:00:00Z</uws:creationTime>
  </uws:jobref>
  <uws:jobref id="j2" xlink:href="https://example.org/jobs/j2">
    <uws:phase>ARCHIVED</uws:phase>
  </uws:jobref>
</uws:jobs>
"""

EMPTY_JOB_LIST = f'<uws:jobs {NS} version="1.1"/>'


@pytest.mark.parametrize(
    "doc",
    [PENDING_JOB, COMPLETED_JOB, JOB_LIST, EMPTY_JOB_LIST],
    ids=["pending-job", "error-job", "job-list", "empty-job-list"],
)
def test_valid_documents(doc: str) -> None:
    validate_uws(doc.encode(), require_version="1.1")
    validate_uws(doc)  # str works too


def test_results_fragment() -> None:
    validate_uws(
        f'<uws:results {NS}><uws:result id="a" xlink:href="http://x/a"/></uws:results>', require_version="1.1"
    )  # no version attribute expected on fragments


@pytest.mark.parametrize("version_attr", ['version="2.0"', ""])
def test_version_is_free_in_schema_but_checked_on_request(version_attr: str) -> None:
    doc = PENDING_JOB.replace('version="1.1"', version_attr)
    validate_uws(doc.encode())  # the XSD has version optional, type xs:string
    with pytest.raises(AssertionError, match=r"expected '1\.1'"):
        validate_uws(doc.encode(), require_version="1.1")


def _swap(doc: str, first: str, second: str) -> str:
    """Swap two whole lines (child elements) of a document."""
    lines = doc.splitlines()
    i = next(n for n, line in enumerate(lines) if first in line)
    j = next(n for n, line in enumerate(lines) if second in line)
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


INVALID = {
    "wrong-child-order": (_swap(PENDING_JOB, "<uws:phase>", "<uws:ownerId"), "phase"),
    "missing-ownerId": (PENDING_JOB.replace('  <uws:ownerId xsi:nil="true"/>\n', ""), "ownerId"),
    "missing-startTime": (PENDING_JOB.replace('  <uws:startTime xsi:nil="true"/>\n', ""), "startTime"),
    "missing-results": (PENDING_JOB.replace("  <uws:results/>\n", ""), "jobInfo"),
    "empty-not-nil-endTime": (
        PENDING_JOB.replace('<uws:endTime xsi:nil="true"/>', "<uws:endTime/>"),
        "endTime",
    ),
    "nil-on-non-nillable": (
        PENDING_JOB.replace(
            "<uws:executionDuration>600</uws:executionDuration>", '<uws:executionDuration xsi:nil="true"/>'
        ),
        "executionDuration",
    ),
    "bad-phase": (PENDING_JOB.replace("<uws:phase>PENDING", "<uws:phase>RUNNING"), "RUNNING"),
    "markup-in-message": (COMPLETED_JOB.replace("Out of range", "<b>Out</b> of range"), "message"),
    "bad-error-type": (COMPLETED_JOB.replace('type="fatal"', 'type="oops"'), "oops"),
    "bad-xlink-type": (JOB_LIST.replace('xlink:type="simple"', 'xlink:type="bogus"'), "bogus"),
    "jobref-without-id": (JOB_LIST.replace('id="j2" ', ""), "id"),
    "jobref-wrong-order": (_swap(JOB_LIST, "<uws:runId>r1", "<uws:ownerId"), "runId"),
    "wrong-namespace": (EMPTY_JOB_LIST.replace("UWS/v1.0", "UWS/v1.1"), "jobs"),
}


@pytest.mark.parametrize(("doc", "needle"), INVALID.values(), ids=INVALID.keys())
def test_invalid_documents(doc: str, needle: str) -> None:
    with pytest.raises(AssertionError, match="not schema-valid") as info:
        validate_uws(doc.encode())
    assert needle in str(info.value)


def test_not_well_formed() -> None:
    with pytest.raises(AssertionError, match="could not be parsed"):
        validate_uws(b"<uws:job")
