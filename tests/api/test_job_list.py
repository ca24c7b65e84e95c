"""The job list and its filters: PHASE, AFTER, LAST (UWS §2.2.2.1).

Other tests share the server, so each test narrows the list to its own jobs with AFTER
(the creationTime of a marker job made just before) rather than assuming an empty list.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest

from spt_api.uws.phases import Action
from tests.api.uws_helpers import (
    JSON,
    XLINK_NS,
    XSI_NS,
    children,
    form,
    get_job,
    job_id_of,
    parse_time,
    q,
    wait_until_final,
)
from tests.support.principals import SYSTEM
from tests.support.server import RunningServer
from tests.support.uws_xsd import validate_uws


def listing(client: httpx.Client, server: RunningServer, pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The job list as XML (schema-validated) and JSON; asserts both agree and returns the JSON jobs."""
    from urllib.parse import urlencode

    url = f"{server.jobs_url()}?{urlencode(pairs)}"
    xml = client.get(url)
    assert xml.status_code == 200, xml.text
    assert xml.headers["Content-Type"].startswith("application/xml")
    validate_uws(xml.content, require_version="1.1")
    root = ET.fromstring(xml.content)
    assert root.tag == q("jobs")
    response = client.get(url, headers=JSON)
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == "1.1"
    jobs: list[dict[str, Any]] = body["jobs"]
    refs = list(root)
    assert [ref.attrib["id"] for ref in refs] == [j["jobId"] for j in jobs]
    for ref, job in zip(refs, jobs, strict=True):
        assert ref.tag == q("jobref")
        assert ref.attrib[f"{{{XLINK_NS}}}href"] == job["href"]
        # ShortJobDescription order: phase, runId?, ownerId, creationTime.
        names = children(ref)
        assert names == [n for n in ("phase", "runId", "ownerId", "creationTime") if n in names]
        assert ref.findtext(q("phase")) == job["phase"]
        assert ref.findtext(q("creationTime")) == job["creationTime"]
        owner = ref.find(q("ownerId"))
        assert owner is not None
        if job["ownerId"] is None:
            assert owner.attrib.get(f"{{{XSI_NS}}}nil") == "true"
        parse_time(job["creationTime"])
    return jobs


def past(created: str) -> str:
    """Return once the clock has passed ``created`` (at most ~1 ms: times are stored to the millisecond).

    The next job then has a strictly later creationTime, so AFTER and LAST orders are exact.
    """
    when = parse_time(created)
    deadline = time.monotonic() + 5
    while datetime.now(UTC) <= when + timedelta(milliseconds=1):
        assert time.monotonic() < deadline, "clock did not advance"
    return created


def create(server: RunningServer, client: httpx.Client, **params: Any) -> str:
    """A new PENDING job whose creationTime is strictly before every later job's."""
    url = server.create_job(**params)
    past(get_job(client, url)["creationTime"])
    return url


def marker(server: RunningServer, client: httpx.Client) -> str:
    """The creationTime of a fresh job: jobs made after it are this test's own."""
    url = server.create_job(message="marker")
    created: str = get_job(client, url)["creationTime"]
    client.delete(url)
    return past(created)


def ids(jobs: list[dict[str, Any]]) -> list[str]:
    return [j["jobId"] for j in jobs]


def test_list_contains_new_jobs_with_links(server: RunningServer, client: httpx.Client) -> None:
    after = marker(server, client)
    urls = [server.create_job(message=f"list {i}") for i in range(3)]
    jobs = listing(client, server, [("AFTER", after)])
    assert set(ids(jobs)) == {job_id_of(u) for u in urls}
    assert {j["href"] for j in jobs} == set(urls)
    assert all(j["phase"] == "PENDING" for j in jobs)


def test_phase_filter_and_union(server: RunningServer, client: httpx.Client) -> None:
    after = marker(server, client)
    pending = job_id_of(server.create_job())
    aborted_url = server.create_job()
    assert client.post(f"{aborted_url}/phase", data={"PHASE": "ABORT"}).status_code == 303
    aborted = job_id_of(aborted_url)
    completed_url = server.create_job(run=True)
    assert wait_until_final(client, completed_url)["phase"] == "COMPLETED"
    completed = job_id_of(completed_url)

    assert ids(listing(client, server, [("AFTER", after), ("PHASE", "PENDING")])) == [pending]
    assert ids(listing(client, server, [("AFTER", after), ("PHASE", "aborted")])) == [aborted]
    union = listing(client, server, [("AFTER", after), ("PHASE", "PENDING"), ("PHASE", "COMPLETED")])
    assert set(ids(union)) == {pending, completed}
    assert {j["phase"] for j in union} == {"PENDING", "COMPLETED"}
    assert set(ids(listing(client, server, [("AFTER", after)]))) == {pending, aborted, completed}
    assert listing(client, server, [("AFTER", after), ("PHASE", "HELD")]) == []


def test_after_uses_creation_time(server: RunningServer, client: httpx.Client) -> None:
    first = server.create_job()
    first_created = past(get_job(client, first)["creationTime"])
    second = server.create_job()
    # AFTER is strictly after: the job created at that instant is not listed.
    jobs = listing(client, server, [("AFTER", first_created)])
    assert job_id_of(second) in ids(jobs)
    assert job_id_of(first) not in ids(jobs)
    assert all(parse_time(j["creationTime"]) > parse_time(first_created) for j in jobs)
    # A time without a zone is UTC (UWS §2.2.1), and a future AFTER lists nothing.
    assert listing(client, server, [("AFTER", "2999-01-01T00:00:00")]) == []


def test_last_is_most_recent_first(server: RunningServer, client: httpx.Client) -> None:
    after = marker(server, client)
    urls = [create(server, client, message=f"last {i}") for i in range(4)]
    jobs = listing(client, server, [("LAST", "2")])
    assert len(jobs) == 2
    times = [parse_time(j["creationTime"]) for j in jobs]
    assert times == sorted(times, reverse=True)
    assert ids(jobs)[0] == job_id_of(urls[-1])
    assert set(ids(jobs)) <= {job_id_of(u) for u in urls}
    everything = listing(client, server, [("AFTER", after), ("LAST", "100")])
    assert ids(everything) == [job_id_of(u) for u in reversed(urls)]


def test_filters_combine_with_and(server: RunningServer, client: httpx.Client) -> None:
    after = marker(server, client)
    pending = [create(server, client, message=f"combo {i}") for i in range(3)]
    aborted = server.create_job()
    client.post(f"{aborted}/phase", data={"PHASE": "ABORT"})
    # (PENDING or ABORTED) and after the marker and among the 2 most recent of those.
    jobs = listing(
        client, server, [("PHASE", "PENDING"), ("PHASE", "ABORTED"), ("AFTER", after), ("LAST", "2")]
    )
    assert ids(jobs) == [job_id_of(aborted), job_id_of(pending[-1])]
    jobs = listing(client, server, [("PHASE", "PENDING"), ("AFTER", after), ("LAST", "2")])
    assert ids(jobs) == [job_id_of(pending[2]), job_id_of(pending[1])]


def test_archived_jobs_are_listed_only_on_request(server: RunningServer, client: httpx.Client) -> None:
    after = marker(server, client)
    kept = server.create_job()
    archived = server.create_job()
    client.post(f"{archived}/phase", data={"PHASE": "ABORT"})
    # No client action archives a job (the destruction time does); use the JobStore interface,
    # which every backend shares.
    server.backends.jobs.store.transition(SYSTEM, job_id_of(archived), Action.ARCHIVE)
    assert get_job(client, archived)["phase"] == "ARCHIVED"
    assert ids(listing(client, server, [("AFTER", after)])) == [job_id_of(kept)]
    assert ids(listing(client, server, [("AFTER", after), ("PHASE", "ARCHIVED")])) == [job_id_of(archived)]
    both = listing(client, server, [("AFTER", after), ("PHASE", "ARCHIVED"), ("PHASE", "PENDING")])
    assert set(ids(both)) == {job_id_of(kept), job_id_of(archived)}
    # Its document stays readable and valid, with phase ARCHIVED.
    xml = client.get(archived)
    validate_uws(xml.content, require_version="1.1")


def test_deleted_jobs_leave_the_list(server: RunningServer, client: httpx.Client) -> None:
    after = marker(server, client)
    url = server.create_job()
    assert ids(listing(client, server, [("AFTER", after)])) == [job_id_of(url)]
    client.delete(url)
    assert listing(client, server, [("AFTER", after)]) == []


@pytest.mark.parametrize("name", ["phase", "Phase", "PHASE"])
def test_filter_names_are_case_insensitive(server: RunningServer, client: httpx.Client, name: str) -> None:
    after = marker(server, client)
    url = server.create_job()
    assert ids(listing(client, server, [("after", after), (name, "PENDING")])) == [job_id_of(url)]


def test_list_of_an_empty_selection_is_valid(server: RunningServer, client: httpx.Client) -> None:
    assert listing(client, server, [("PHASE", "SUSPENDED"), ("PHASE", "UNKNOWN")]) == []
    response = client.post(server.jobs_url(), **form([("message", "after empty")]))
    assert response.status_code == 303
