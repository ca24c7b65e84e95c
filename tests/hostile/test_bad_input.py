"""Fix 3: bad input that used to reach a 500 (or a silent hang-up, or a silent change) gets a clear 4xx."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

import httpx
import pytest

from tests.api.uws_helpers import JSON, UWS_NS
from tests.hostile._support import raw_request, status_of
from tests.support.server import RunningServer

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
OUT_OF_RANGE = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


@pytest.fixture
def client(hostile: RunningServer) -> Iterator[httpx.Client]:
    with hostile.client() as c:
        yield c


@pytest.fixture
def job(hostile: RunningServer) -> str:
    return hostile.create_job(message="hostile")


def assert_usage_error(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    if response.headers["Content-Type"].startswith("application/json"):
        body = response.json()
        assert body["status"] == status
        text = body["message"]
    else:
        assert response.headers["Content-Type"].startswith("text/plain")
        assert response.text.startswith("UsageError: ")
        text = response.text
    for word in words:
        assert word in text, text


@pytest.mark.parametrize("when", OUT_OF_RANGE)
@pytest.mark.parametrize("accept", [{}, JSON], ids=["text", "json"])
def test_destruction_out_of_range_at_creation(
    hostile: RunningServer, client: httpx.Client, when: str, accept: dict[str, str]
) -> None:
    response = client.post(hostile.jobs_url(), content=urlencode({"DESTRUCTION": when}), headers={**FORM, **accept})
    assert_usage_error(response, 400, "DESTRUCTION")


@pytest.mark.parametrize("when", OUT_OF_RANGE)
def test_destruction_out_of_range_on_the_job(client: httpx.Client, job: str, when: str) -> None:
    response = client.post(f"{job}/destruction", content=urlencode({"DESTRUCTION": when}), headers=FORM)
    assert_usage_error(response, 400, "DESTRUCTION")


@pytest.mark.parametrize("when", OUT_OF_RANGE)
def test_after_out_of_range_on_the_job_list(hostile: RunningServer, client: httpx.Client, when: str) -> None:
    assert_usage_error(client.get(hostile.jobs_url(), params={"AFTER": when}), 400, "AFTER")


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"message": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"],
    ids=["array", "in-object"],
)
def test_deeply_nested_json_body(hostile: RunningServer, client: httpx.Client, body: bytes) -> None:
    response = client.post(hostile.jobs_url(), content=body, headers={"Content-Type": "application/json", **JSON})
    assert_usage_error(response, 400, "nested")


@pytest.mark.parametrize("where", ["body", "query"])
def test_percent_encoded_invalid_utf8_is_refused_like_raw_bytes(
    hostile: RunningServer, client: httpx.Client, where: str
) -> None:
    if where == "body":
        response = client.post(hostile.jobs_url(), content=b"message=%ff%fe", headers=FORM)
    else:
        response = client.post(hostile.jobs_url() + "?message=%ff%fe", content=b"", headers=FORM)
    assert_usage_error(response, 400, "UTF-8")
    raw = client.post(hostile.jobs_url(), content=b"message=\xff\xfe", headers=FORM)
    assert_usage_error(raw, 400, "UTF-8")


def test_a_carriage_return_survives_the_xml_document(hostile: RunningServer, client: httpx.Client) -> None:
    url = hostile.create_job(message="line one\r\nline two\rend")
    for document in (client.get(url), client.get(f"{url}/parameters")):
        assert b"&#13;" in document.content
        root = ET.fromstring(document.content)
        values = [p.text for p in root.iter(f"{{{UWS_NS}}}parameter") if p.get("id") == "message"]
        assert values == ["line one\r\nline two\rend"]


@pytest.mark.parametrize(
    "name,value",
    [
        ("PHASE", "RUN"),
        ("RUNID", "r" * 100),
        ("runid", "short"),
        ("DESTRUCTION", "2030-01-01T00:00:00Z"),
        ("EXECUTIONDURATION", "5"),
    ],
)
def test_control_parameters_are_refused_at_parameters(client: httpx.Client, job: str, name: str, value: str) -> None:
    response = client.post(f"{job}/parameters", content=urlencode({name: value}), headers={**FORM, **JSON})
    assert_usage_error(response, 400, name)
    assert response.json()["parameter"] == name
    stored = client.get(job, headers=JSON).json()
    assert stored["phase"] == "PENDING"
    assert stored["runId"] is None
    assert name not in stored["parameters"] and name.lower() not in stored["parameters"]


def test_service_parameters_are_still_updated(client: httpx.Client, job: str) -> None:
    response = client.post(f"{job}/parameters", content=urlencode({"message": "changed"}), headers=FORM)
    assert response.status_code == 303, response.text
    assert client.get(job, headers=JSON).json()["parameters"]["message"] == ["changed"]


@pytest.mark.parametrize("size", [70_000, 400_000], ids=["over-limit", "over-hard-limit"])
def test_a_long_url_gets_414(hostile: RunningServer, size: int) -> None:
    answer = raw_request(hostile, f"GET /api/echo/jobs?x={'a' * size} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    assert status_of(answer) == 414, answer[:300]
    assert b"UsageError: " in answer


@pytest.mark.parametrize("size", [70_000, 400_000], ids=["over-limit", "over-hard-limit"])
def test_large_headers_get_431(hostile: RunningServer, size: int) -> None:
    headers = "".join(f"X-Filler-{i}: {'b' * 1000}\r\n" for i in range(size // 1000))
    answer = raw_request(hostile, f"GET /api/echo/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode())
    assert status_of(answer) == 431, answer[:300]
    assert b"UsageError: " in answer


def test_one_big_header_gets_431(hostile: RunningServer) -> None:
    answer = raw_request(hostile, f"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {'c' * 70_000}\r\n\r\n".encode())
    assert status_of(answer) == 431, answer[:300]
