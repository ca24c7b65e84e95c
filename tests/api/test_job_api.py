"""The UWS 1.1 job resource and its sub-resources (UWS §2.2), end to end over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.api.uws_helpers import (
    JSON,
    XLINK_NS,
    XSI_NS,
    children,
    form,
    get_job,
    get_job_xml,
    job_id_of,
    parse_time,
    q,
    wait_for_phase,
    wait_until_final,
)
from tests.support.server import RunningServer
from tests.support.uws_xsd import validate_uws

#: JobSummary sequence of UWS.xsd (Appendix B); optional elements may be absent.
JOB_ORDER = [
    "jobId",
    "runId",
    "ownerId",
    "phase",
    "quote",
    "creationTime",
    "startTime",
    "endTime",
    "executionDuration",
    "destruction",
    "parameters",
    "results",
    "errorSummary",
    "jobInfo",
]


def xml_parameters(client: httpx.Client, job_url: str) -> list[tuple[str, str]]:
    response = client.get(f"{job_url}/parameters")
    assert response.status_code == 200
    validate_uws(response.content)
    from xml.etree import ElementTree as ET

    root = ET.fromstring(response.content)
    assert root.tag == q("parameters")
    return [(p.attrib["id"], p.text or "") for p in root]


# -- creation ----------------------------------------------------------------------------------------


def test_create_form_redirects_to_new_job(server: RunningServer, client: httpx.Client) -> None:
    response = client.post(server.jobs_url(), data={"message": "form hello", "delay": "0.5"})
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(server.jobs_url() + "/")
    assert "/" not in job_id_of(location)
    job = get_job(client, location)
    assert job["phase"] == "PENDING"
    assert job["jobId"] == job_id_of(location)
    assert job["parameters"] == {"message": ["form hello"], "delay": ["0.5"]}


def test_create_json_body(server: RunningServer, client: httpx.Client) -> None:
    response = client.post(server.jobs_url(), json={"message": "from json", "fail": True, "steps": 2})
    assert response.status_code == 303
    job = get_job(client, response.headers["Location"])
    assert job["phase"] == "PENDING"
    assert job["parameters"] == {"message": ["from json"], "fail": ["true"], "steps": ["2"]}


def test_parameters_keep_their_order(server: RunningServer, client: httpx.Client) -> None:
    data = [("steps", "3"), ("message", "m"), ("delay", "0"), ("size", "10")]
    response = client.post(server.jobs_url(), **form(data))
    assert response.status_code == 303
    assert xml_parameters(client, response.headers["Location"]) == data


def test_parameter_names_are_case_insensitive(server: RunningServer, client: httpx.Client) -> None:
    # DALI §3.1: names are case-insensitive; values are kept as given.
    response = client.post(server.jobs_url(), data={"MESSAGE": "Mixed Case"})
    assert response.status_code == 303
    url = response.headers["Location"]
    job = get_job(client, url)
    assert job["phase"] == "PENDING"
    assert ("MESSAGE", "Mixed Case") in xml_parameters(client, url)


def test_multi_valued_parameters_kept_in_order(server: RunningServer, client: httpx.Client) -> None:
    """cutout's POS repeats; the values come back in the order sent, in XML and JSON."""
    values = ["CIRCLE 10 -50 0.1", "CIRCLE 11 -51 0.1", "CIRCLE 9 -49 0.1"]
    response = client.post(server.jobs_url("cutout"), **form([("POS", v) for v in values]))
    assert response.status_code == 303, response.text
    url = response.headers["Location"]
    assert [v for k, v in xml_parameters(client, url) if k == "POS"] == values
    assert get_job(client, url)["parameters"]["POS"] == values


def test_repeated_values_in_json_body_are_a_list(server: RunningServer, client: httpx.Client) -> None:
    # A JSON list becomes repeated values; echo's message is single-valued, so this is a 400 naming it.
    response = client.post(server.jobs_url(), json={"message": ["a", "b"]}, headers=JSON)
    assert response.status_code == 400
    assert response.json()["parameter"] == "message"


def test_create_with_phase_run_starts_the_job(server: RunningServer, client: httpx.Client) -> None:
    response = client.post(server.jobs_url(), data={"message": "run now", "PHASE": "RUN"})
    assert response.status_code == 303
    url = response.headers["Location"]
    assert get_job(client, url)["phase"] in ("QUEUED", "EXECUTING", "COMPLETED")
    job = wait_until_final(client, url)
    assert job["phase"] == "COMPLETED"
    # Control parameters are not job parameters.
    assert job["parameters"] == {"message": ["run now"]}


def test_runid_is_echoed(server: RunningServer, client: httpx.Client) -> None:
    response = client.post(server.jobs_url(), data={"RUNID": "my-run 42", "message": "x"})
    assert response.status_code == 303
    url = response.headers["Location"]
    assert get_job(client, url)["runId"] == "my-run 42"
    root = get_job_xml(client, url)
    assert root.findtext(q("runId")) == "my-run 42"
    listing = client.get(server.jobs_url(), params={"LAST": 5}, headers=JSON).json()["jobs"]
    assert {"jobId": job_id_of(url), "runId": "my-run 42"}.items() <= next(
        j for j in listing if j["jobId"] == job_id_of(url)
    ).items()


# -- the job document --------------------------------------------------------------------------------


def test_job_xml_document(server: RunningServer, client: httpx.Client) -> None:
    url = server.create_job(message="xml doc")
    root = get_job_xml(client, url)
    assert root.tag == q("job")
    assert root.attrib["version"] == "1.1"
    names = children(root)
    assert names == [n for n in JOB_ORDER if n in names]
    for required in ("jobId", "ownerId", "phase", "creationTime", "startTime", "endTime",
                     "executionDuration", "destruction", "parameters", "results"):
        assert required in names
    assert root.findtext(q("jobId")) == job_id_of(url)
    assert root.findtext(q("phase")) == "PENDING"
    parse_time(root.findtext(q("creationTime")) or "")
    parse_time(root.findtext(q("destruction")) or "")
    for nil in ("startTime", "endTime"):
        element = root.find(q(nil))
        assert element is not None and element.attrib.get(f"{{{XSI_NS}}}nil") == "true"
    assert int(root.findtext(q("executionDuration")) or "-1") >= 0


def test_job_json_document(server: RunningServer, client: httpx.Client) -> None:
    url = server.create_job(message="json doc")
    response = client.get(url, headers=JSON)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    job = response.json()
    assert job["jobId"] == job_id_of(url)
    assert job["href"] == url
    assert job["phase"] == "PENDING"
    assert job["service"] == "echo"
    assert job["startTime"] is None and job["endTime"] is None
    assert job["results"] == [] and job["errorSummary"] is None
    parse_time(job["creationTime"])
    parse_time(job["destruction"])


def test_xml_is_the_default_and_preferred_on_ties(server: RunningServer, client: httpx.Client) -> None:
    url = server.create_job()
    assert client.get(url).headers["Content-Type"].startswith("application/xml")
    both = client.get(url, headers={"Accept": "application/xml,application/json"})
    assert both.headers["Content-Type"].startswith("application/xml")
    assert client.get(url, headers={"Accept": "*/*"}).headers["Content-Type"].startswith("application/xml")


def test_xml_and_json_agree(server: RunningServer, client: httpx.Client) -> None:
    url = server.wait_final(server.create_job(run=True, message="agree", size=5))["href"]
    root = get_job_xml(client, url)
    job = get_job(client, url)
    assert root.findtext(q("phase")) == job["phase"] == "COMPLETED"
    for name in ("creationTime", "startTime", "endTime", "destruction"):
        assert root.findtext(q(name)) == job[name]
    assert int(root.findtext(q("executionDuration")) or "") == job["executionDuration"]
    results = root.find(q("results"))
    assert results is not None
    xml_results = [(r.attrib["id"], r.attrib[f"{{{XLINK_NS}}}href"]) for r in results]
    assert xml_results == [(r["id"], r["href"]) for r in job["results"]]


# -- sub-resources -----------------------------------------------------------------------------------


def text(client: httpx.Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    return response.text


def test_atomic_sub_resources_of_a_pending_job(server: RunningServer, client: httpx.Client) -> None:
    url = server.create_job(message="subs")
    job = get_job(client, url)
    assert text(client, f"{url}/phase") == "PENDING"
    assert int(text(client, f"{url}/executionduration")) == job["executionDuration"]
    destruction = text(client, f"{url}/destruction")
    assert parse_time(destruction) > datetime.now(UTC)
    assert destruction == job["destruction"]
    quote = text(client, f"{url}/quote")
    assert quote == (job["quote"] or "")
    if quote:
        parse_time(quote)
    assert text(client, f"{url}/owner") == (job["ownerId"] or "")
    # ownerId in the XML is the same value, or xsi:nil when there is none (UWS §2.1.8).
    owner = get_job_xml(client, url).find(q("ownerId"))
    assert owner is not None
    if job["ownerId"] is None:
        assert owner.attrib.get(f"{{{XSI_NS}}}nil") == "true"
    else:
        assert owner.text == job["ownerId"]
    # DALI §4.2: no error resource before the job fails.
    assert client.get(f"{url}/error").status_code == 404


def test_parameters_and_results_documents(server: RunningServer, client: httpx.Client) -> None:
    url = server.create_job(message="docs", steps=2)
    assert xml_parameters(client, url) == [("message", "docs"), ("steps", "2")]
    assert client.get(f"{url}/parameters", headers=JSON).json() == {"message": ["docs"], "steps": ["2"]}
    response = client.get(f"{url}/results")
    assert response.status_code == 200
    validate_uws(response.content)
    assert b"results" in response.content
    assert client.get(f"{url}/results", headers=JSON).json() == []


def test_results_of_a_completed_job(server: RunningServer, client: httpx.Client) -> None:
    url = server.create_job(run=True, message="result body", size=1000)
    assert wait_until_final(client, url)["phase"] == "COMPLETED"
    response = client.get(f"{url}/results")
    validate_uws(response.content)
    from xml.etree import ElementTree as ET

    results = {r.attrib["id"]: r.attrib for r in ET.fromstring(response.content)}
    assert set(results) == {"message", "blob"}
    assert results["blob"]["size"] == "1000"
    assert results["message"]["mime-type"] == "text/plain"
    for rid, attrs in results.items():
        href = attrs[f"{{{XLINK_NS}}}href"]
        assert href == f"{url}/results/{rid}"  # DALI §4.1: children of the result list
    message = client.get(f"{url}/results/message", follow_redirects=True)
    assert message.status_code == 200
    assert message.content == b"result body"
    assert message.headers["Content-Type"].startswith("text/plain")
    blob = client.get(f"{url}/results/blob", follow_redirects=True)
    assert blob.status_code == 200
    assert len(blob.content) == 1000
    json_results = client.get(f"{url}/results", headers=JSON).json()
    assert {r["id"]: r["size"] for r in json_results} == {"message": len(b"result body"), "blob": 1000}


# -- executionduration and destruction ---------------------------------------------------------------


def test_set_execution_duration(server: RunningServer, client: httpx.Client) -> None:
    url = server.create_job()
    response = client.post(f"{url}/executionduration", data={"EXECUTIONDURATION": "123"})
    assert response.status_code == 303
    assert response.headers["Location"] == url
    assert text(client, f"{url}/executionduration") == "123"
    assert get_job(client, url)["executionDuration"] == 123


def test_execution_duration_is_capped(server: RunningServer, client: httpx.Client) -> None:
    # UWS §2.2.3.4: the server may substitute its own value; spt-api caps at max_execution_duration,
    # and 0 ("unlimited") is capped too. The 303 lets the client read what was set.
    limit = server.settings.max_execution_duration
    url = server.create_job()
    for asked in (str(limit * 10), "0"):
        response = client.post(f"{url}/executionduration", data={"EXECUTIONDURATION": asked})
        assert response.status_code == 303
        assert text(client, f"{url}/executionduration") == str(limit)


def test_execution_duration_fixed_once_running(server: RunningServer, client: httpx.Client) -> None:
    url = server.create_job(run=True)
    wait_until_final(client, url)
    response = client.post(f"{url}/executionduration", data={"EXECUTIONDURATION": "5"}, headers=JSON)
    assert response.status_code == 403
    assert "PENDING" in response.json()["message"]


def test_set_destruction(server: RunningServer, client: httpx.Client) -> None:
    url = server.create_job()
    when = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    response = client.post(f"{url}/destruction", data={"DESTRUCTION": when.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert response.status_code == 303
    assert response.headers["Location"] == url
    assert parse_time(text(client, f"{url}/destruction")) == when
    assert parse_time(get_job(client, url)["destruction"]) == when


def test_destruction_is_capped(server: RunningServer, client: httpx.Client) -> None:
    # UWS §2.2.3.3: the server may shorten the destruction time (spt-api: now + max_lifetime).
    url = server.create_job()
    response = client.post(f"{url}/destruction", data={"DESTRUCTION": "2999-01-01T00:00:00Z"})
    assert response.status_code == 303
    latest = datetime.now(UTC) + timedelta(seconds=server.settings.max_lifetime)
    assert parse_time(text(client, f"{url}/destruction")) <= latest


# -- parameters --------------------------------------------------------------------------------------


def test_update_parameters_while_pending(server: RunningServer, client: httpx.Client) -> None:
    url = server.create_job(message="before", delay=0)
    response = client.post(f"{url}/parameters", data={"message": "after", "steps": "4"})
    assert response.status_code == 303
    assert response.headers["Location"] == url
    assert get_job(client, url)["parameters"] == {"delay": ["0"], "message": ["after"], "steps": ["4"]}
    bad = client.post(f"{url}/parameters", data={"delay": "-3"}, headers=JSON)
    assert bad.status_code == 400
    assert bad.json()["parameter"] == "delay"
    assert get_job(client, url)["parameters"]["delay"] == ["0"]


@pytest.mark.parametrize("final", [False, True])
def test_update_parameters_after_pending_is_forbidden(
    server: RunningServer, client: httpx.Client, final: bool
) -> None:
    # UWS §2.1.11 / §2.2: changing parameters outside PENDING is illegal for the state: 403.
    url = server.create_job(message="fixed", delay=5 if not final else 0, run=True)
    if final:
        wait_until_final(client, url)
    response = client.post(f"{url}/parameters", data={"message": "changed"}, headers=JSON)
    assert response.status_code == 403
    body = response.json()
    assert body["status"] == 403 and "PENDING" in body["message"]
    assert get_job(client, url)["parameters"]["message"] == ["fixed"]
    client.post(f"{url}/phase", data={"PHASE": "ABORT"})


# -- deletion ----------------------------------------------------------------------------------------


def _assert_gone(client: httpx.Client, url: str) -> None:
    for path in ("", "/phase", "/parameters", "/results", "/results/message"):
        response = client.get(url + path)
        assert response.status_code == 404, (path, response.status_code)


@pytest.mark.parametrize("how", ["DELETE", "ACTION=DELETE"])
def test_delete_job(server: RunningServer, client: httpx.Client, how: str) -> None:
    url = server.create_job(run=True, message="to delete")
    assert wait_until_final(client, url)["phase"] == "COMPLETED"
    assert client.get(f"{url}/results/message", follow_redirects=True).status_code == 200
    response = client.delete(url) if how == "DELETE" else client.post(url, data={"ACTION": "DELETE"})
    assert response.status_code == 303
    assert response.headers["Location"] == server.jobs_url()
    _assert_gone(client, url)
    listing = client.get(server.jobs_url(), headers=JSON).json()["jobs"]
    assert job_id_of(url) not in {j["jobId"] for j in listing}
    assert client.delete(url).status_code == 404


def test_delete_executing_job(server: RunningServer, client: httpx.Client) -> None:
    url = server.create_job(run=True, delay=30, steps=30)
    wait_for_phase(client, url, {"EXECUTING"})
    response = client.delete(url)
    assert response.status_code == 303
    _assert_gone(client, url)
