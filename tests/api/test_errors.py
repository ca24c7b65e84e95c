"""Bad input, table-driven: each case has its exact status and the words its message must contain.

Every case runs in both error shapes: ``Accept: application/json`` gives
``{"error", "message", "status"}``; anything else gives a DALI text/plain document starting
with ``UsageError:`` (DALI §4.2).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.api.uws_helpers import form, wait_until_final
from tests.support.server import RunningServer


@dataclass(frozen=True)
class Jobs:
    """URLs the cases act on: the job list and jobs in known phases."""

    api: str
    jobs: str
    pending: str
    completed: str


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    url: Callable[[Jobs], str]
    status: int
    words: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


def F(*pairs: tuple[str, str]) -> dict[str, Any]:
    return form(list(pairs))


def raw_json(body: bytes) -> dict[str, Any]:
    return {"content": body, "headers": {"Content-Type": "application/json"}}


def jobs(j: Jobs) -> str:
    return j.jobs


def pending(j: Jobs) -> str:
    return j.pending


def completed(j: Jobs) -> str:
    return j.completed


CASES = [
    # -- not found
    Case("unknown service", "GET", lambda j: f"{j.api}/nosuchservice/jobs", 404, ("nosuchservice",)),
    Case("unknown service POST", "POST", lambda j: f"{j.api}/nosuchservice/jobs", 404, ("nosuchservice",),
         F(("message", "x"))),
    Case("unknown job", "GET", lambda j: f"{j.jobs}/nosuchjob", 404, ("nosuchjob",)),
    Case("unknown job phase", "GET", lambda j: f"{j.jobs}/nosuchjob/phase", 404, ("nosuchjob",)),
    Case("unknown job DELETE", "DELETE", lambda j: f"{j.jobs}/nosuchjob", 404, ("nosuchjob",)),
    Case("unknown job RUN", "POST", lambda j: f"{j.jobs}/nosuchjob/phase", 404, ("nosuchjob",),
         F(("PHASE", "RUN"))),
    Case("unknown path", "GET", lambda j: f"{j.api}/nothing/here/at/all", 404, ("/nothing/here/at/all",)),
    Case("unknown sub-resource", "GET", lambda j: f"{j.pending}/bogus", 404, ("bogus",)),
    Case("no error yet", "GET", lambda j: f"{j.pending}/error", 404, ("no error", "PENDING")),
    Case("missing result", "GET", lambda j: f"{j.completed}/results/nosuchresult", 404, ("nosuchresult",)),
    # -- wrong method
    Case("DELETE job list", "DELETE", jobs, 405, ("DELETE",)),
    Case("PUT job list", "PUT", jobs, 405, ("PUT",), F(("message", "x"))),
    Case("PUT job", "PUT", pending, 405, ("PUT",), F(("message", "x"))),
    Case("POST quote", "POST", lambda j: f"{j.pending}/quote", 405, ("POST",), F(("QUOTE", "x"))),
    Case("POST results", "POST", lambda j: f"{j.pending}/results", 405, ("POST",), F(("x", "y"))),
    Case("DELETE phase", "DELETE", lambda j: f"{j.pending}/phase", 405, ("DELETE",)),
    # -- too large (the test server's max_body_size is 1 MiB)
    Case("body over the limit", "POST", jobs, 413, ("limit",),
         {"content": b"message=" + b"x" * (1024 * 1024 + 1),
          "headers": {"Content-Type": "application/x-www-form-urlencoded"}}),
    # -- bad job parameters (the service's model)
    Case("negative delay", "POST", jobs, 400, ("delay",), F(("delay", "-1"))),
    Case("non-numeric delay", "POST", jobs, 400, ("delay", "abc"), F(("delay", "abc"))),
    Case("size too big", "POST", jobs, 400, ("size", "999999999999"), F(("size", "999999999999"))),
    Case("bad flag", "POST", jobs, 400, ("fail", "perhaps"), F(("fail", "perhaps"))),
    Case("unknown parameter", "POST", jobs, 400, ("colour",), F(("colour", "red"))),
    Case("repeated single-valued", "POST", jobs, 400, ("message", "single"),
         F(("message", "a"), ("message", "b"))),
    Case("repeated single-valued, case", "POST", jobs, 400, ("single",),
         F(("message", "a"), ("MESSAGE", "b"))),
    Case("JSON list for a single value", "POST", jobs, 400, ("message", "single"),
         {"json": {"message": ["a", "b"]}}),
    Case("JSON object value", "POST", jobs, 400, ("message", "scalar"), {"json": {"message": {"a": 1}}}),
    Case("RUNID too long", "POST", jobs, 400, ("RUNID", "64"), F(("RUNID", "r" * 65))),
    Case("repeated RUNID", "POST", jobs, 400, ("RUNID",), F(("RUNID", "a"), ("RUNID", "b"))),
    Case("bad EXECUTIONDURATION at creation", "POST", jobs, 400, ("EXECUTIONDURATION", "soon"),
         F(("EXECUTIONDURATION", "soon"))),
    Case("bad DESTRUCTION at creation", "POST", jobs, 400, ("DESTRUCTION", "tomorrow"),
         F(("DESTRUCTION", "tomorrow"))),
    Case("parameter update", "POST", lambda j: f"{j.pending}/parameters", 400, ("delay", "abc"),
         F(("delay", "abc"))),
    Case("unknown parameter update", "POST", lambda j: f"{j.pending}/parameters", 400, ("colour",),
         F(("colour", "red"))),
    # -- bodies
    Case("non-JSON body with JSON type", "POST", jobs, 400, ("JSON",), raw_json(b"message=hello")),
    Case("JSON array body", "POST", jobs, 400, ("JSON", "object"), raw_json(b'["message", "x"]')),
    Case("unsupported body type", "POST", jobs, 400, ("Content-Type", "text/csv"),
         {"content": b"a,b", "headers": {"Content-Type": "text/csv"}}),
    Case("multipart without boundary", "POST", jobs, 400, ("multipart",),
         {"content": b"message=x", "headers": {"Content-Type": "multipart/form-data"}}),
    Case("form body not UTF-8", "POST", jobs, 400, ("UTF-8",),
         {"content": b"message=%ff\xff", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}),
    Case("control character in a value", "POST", jobs, 400, ("message", "U+0001"), F(("message", "a\x01b"))),
    Case("control character in a name", "POST", jobs, 400, ("U+001B",), F(("mes\x1bsage", "x"))),
    Case("lone surrogate in JSON", "POST", jobs, 400, ("message", "U+D800"),
         raw_json(b'{"message": "\\ud800"}')),
    Case("control character in RUNID", "POST", jobs, 400, ("RUNID",), F(("RUNID", "r\x07"))),
    Case("control character in a parameter update", "POST", lambda j: f"{j.pending}/parameters", 400,
         ("message",), F(("message", "\x0c"))),
    # -- PHASE
    Case("bad PHASE filter", "GET", lambda j: f"{j.jobs}?PHASE=SLEEPING", 400, ("PHASE", "SLEEPING")),
    Case("bad PHASE with WAIT", "GET", lambda j: f"{j.pending}?WAIT=1&PHASE=SLEEPING", 400,
         ("PHASE", "SLEEPING")),
    Case("bad PHASE action", "POST", lambda j: f"{j.pending}/phase", 400, ("PHASE", "SUSPEND"),
         F(("PHASE", "SUSPEND"))),
    Case("missing PHASE action", "POST", lambda j: f"{j.pending}/phase", 400, ("PHASE",), F(("X", "1"))),
    Case("PHASE at creation not RUN", "POST", jobs, 400, ("PHASE", "ABORT"), F(("PHASE", "ABORT"))),
    Case("PHASE=EXECUTING at creation", "POST", jobs, 400, ("PHASE", "EXECUTING"), F(("PHASE", "EXECUTING"))),
    Case("ABORT at the job URL", "POST", pending, 400, ("/phase",), F(("PHASE", "ABORT"))),
    Case("parameters at the job URL", "POST", pending, 400, ("/parameters",), F(("message", "x"))),
    Case("ABORT of a COMPLETED job", "POST", lambda j: f"{j.completed}/phase", 403, ("ABORT", "COMPLETED"),
         F(("PHASE", "ABORT"))),
    Case("RUN of a COMPLETED job", "POST", lambda j: f"{j.completed}/phase", 403, ("COMPLETED",),
         F(("PHASE", "RUN"))),
    Case("parameters of a COMPLETED job", "POST", lambda j: f"{j.completed}/parameters", 403,
         ("PENDING", "COMPLETED"), F(("message", "x"))),
    Case("executionduration of a COMPLETED job", "POST", lambda j: f"{j.completed}/executionduration", 403,
         ("PENDING", "COMPLETED"), F(("EXECUTIONDURATION", "10"))),
    # -- WAIT, LAST, AFTER, DESTRUCTION, EXECUTIONDURATION
    Case("non-integer WAIT", "GET", lambda j: f"{j.pending}?WAIT=soon", 400, ("WAIT", "soon")),
    Case("WAIT below -1", "GET", lambda j: f"{j.pending}?WAIT=-2", 400, ("WAIT", "-2")),
    Case("repeated WAIT", "GET", lambda j: f"{j.pending}?WAIT=1&WAIT=2", 400, ("WAIT",)),
    Case("LAST zero", "GET", lambda j: f"{j.jobs}?LAST=0", 400, ("LAST", "0")),
    Case("LAST negative", "GET", lambda j: f"{j.jobs}?LAST=-3", 400, ("LAST", "-3")),
    Case("LAST not a number", "GET", lambda j: f"{j.jobs}?LAST=many", 400, ("LAST", "many")),
    Case("bad AFTER", "GET", lambda j: f"{j.jobs}?AFTER=yesterday", 400, ("AFTER", "yesterday")),
    Case("bad DESTRUCTION", "POST", lambda j: f"{j.pending}/destruction", 400, ("DESTRUCTION", "never"),
         F(("DESTRUCTION", "never"))),
    Case("missing DESTRUCTION", "POST", lambda j: f"{j.pending}/destruction", 400, ("DESTRUCTION",),
         F(("X", "1"))),
    Case("bad EXECUTIONDURATION", "POST", lambda j: f"{j.pending}/executionduration", 400,
         ("EXECUTIONDURATION", "long"), F(("EXECUTIONDURATION", "long"))),
    Case("negative EXECUTIONDURATION", "POST", lambda j: f"{j.pending}/executionduration", 400,
         ("EXECUTIONDURATION", "-5"), F(("EXECUTIONDURATION", "-5"))),
]


@pytest.fixture(scope="module")
def known_jobs(server: RunningServer) -> Iterator[Jobs]:
    pending_url = server.create_job(message="stays pending")
    completed_url = server.create_job(run=True, message="done")
    with server.client() as client:
        assert wait_until_final(client, completed_url)["phase"] == "COMPLETED"
    yield Jobs(server.api, server.jobs_url(), pending_url, completed_url)


def send(client: httpx.Client, case: Case, jobs: Jobs, accept: str | None) -> httpx.Response:
    kwargs = dict(case.kwargs)
    headers = dict(kwargs.pop("headers", {}))
    if accept:
        headers["Accept"] = accept
    return client.request(case.method, case.url(jobs), headers=headers, **kwargs)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_json(client: httpx.Client, known_jobs: Jobs, case: Case) -> None:
    response = send(client, case, known_jobs, "application/json")
    assert response.status_code == case.status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) >= {"error", "message", "status"}
    assert body["status"] == case.status
    assert isinstance(body["error"], str) and body["error"]
    for word in case.words:
        assert word in body["message"], (word, body)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_text(client: httpx.Client, known_jobs: Jobs, case: Case) -> None:
    response = send(client, case, known_jobs, None)
    assert response.status_code == case.status, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text.startswith("UsageError:"), response.text
    for word in case.words:
        assert word in response.text, (word, response.text)
    assert "Traceback" not in response.text


def test_parameter_field_names_the_parameter(client: httpx.Client, known_jobs: Jobs) -> None:
    for data, name in [
        ({"delay": "-1"}, "delay"),
        ({"colour": "red"}, "colour"),
        ({"PHASE": "ABORT"}, "PHASE"),
    ]:
        body = client.post(known_jobs.jobs, data=data, headers={"Accept": "application/json"}).json()
        assert body["parameter"] == name, body


def test_pending_job_unchanged_by_bad_requests(client: httpx.Client, known_jobs: Jobs) -> None:
    job = client.get(known_jobs.pending, headers={"Accept": "application/json"}).json()
    assert job["phase"] == "PENDING"
    assert job["parameters"] == {"message": ["stays pending"]}


def test_error_bodies_are_json_documents(client: httpx.Client, known_jobs: Jobs) -> None:
    # One shape for every endpoint, including Tornado's own errors (405) and unknown paths.
    for method, url in [("GET", f"{known_jobs.api}/x/y/z/w"), ("PATCH", known_jobs.pending)]:
        response = client.request(method, url, headers={"Accept": "application/json"})
        assert response.status_code in (404, 405)
        assert json.loads(response.text)["status"] == response.status_code


def _raw_exchange(server: RunningServer, requests: list[bytes]) -> list[bytes]:
    """Send requests one after the other on one keep-alive socket; return each raw response head."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(server.base_url)
    heads = []
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        reader = sock.makefile("rb")
        for request in requests:
            sock.sendall(request)
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                line = reader.readline()
                if not line:
                    break
                head += line
            heads.append(head)
            length = next(
                (int(h.split(b":", 1)[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")),
                0,
            )
            reader.read(length)
    return heads


def test_connection_stays_usable_after_an_unknown_path(server: RunningServer) -> None:
    # A keep-alive client reuses its connection after a 404; the server must not drop it silently.
    host = server.base_url.split("//", 1)[1].encode()
    heads = _raw_exchange(
        server,
        [
            b"GET /api/no/such/thing HTTP/1.1\r\nHost: " + host + b"\r\n\r\n",
            b"PATCH /api/echo/jobs/nosuchjob HTTP/1.1\r\nHost: " + host + b"\r\nContent-Length: 0\r\n\r\n",
            b"GET /api/services HTTP/1.1\r\nHost: " + host + b"\r\n\r\n",
        ],
    )
    assert [h.split(b" ", 2)[1] for h in heads] == [b"404", b"405", b"200"], heads


def test_too_large_body_closes_the_connection_explicitly(server: RunningServer) -> None:
    host = server.base_url.split("//", 1)[1].encode()
    size = server.settings.max_body_size + 1
    heads = _raw_exchange(
        server,
        [
            b"POST /api/echo/jobs HTTP/1.1\r\nHost: " + host
            + b"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: "
            + str(size).encode() + b"\r\n\r\n",
        ],
    )
    assert heads[0].startswith(b"HTTP/1.1 413")
    assert b"connection: close" in heads[0].lower()


@pytest.mark.parametrize("overshoot", [1, 200_000])
def test_chunked_body_over_the_limit(server: RunningServer, client: httpx.Client, overshoot: int) -> None:
    # Without Content-Length the limit is found while streaming; the answer is still a 413 document.
    from datetime import UTC, datetime

    before = datetime.now(UTC).isoformat()
    total = server.settings.max_body_size + overshoot

    def body() -> Iterator[bytes]:
        yield b"message="
        sent = 8
        while sent < total:
            chunk = b"x" * min(64 * 1024, total - sent)
            sent += len(chunk)
            yield chunk

    try:
        response = client.post(
            server.jobs_url(),
            content=body(),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        )
    except httpx.TransportError:
        pytest.fail("connection dropped instead of a 413 answer")
    assert response.status_code == 413
    assert response.json()["status"] == 413
    assert "limit" in response.json()["message"]
    # No job was made from the part that was read.
    with server.client() as fresh:
        listed = fresh.get(server.jobs_url(), params={"AFTER": before}, headers={"Accept": "application/json"})
    assert listed.json()["jobs"] == []
