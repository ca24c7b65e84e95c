"""Fix 5: headers: nosniff everywhere, safe result downloads, Host checked, CORS and cross-site POSTs."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest

from spt_api.config import Settings
from spt_api.handlers.base import content_disposition, host_name
from tests.api.uws_helpers import JSON
from tests.hostile._support import TRUSTED_ORIGIN, raw_request, status_of
from tests.support.server import RunningServer

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def client(hostile: RunningServer) -> Iterator[httpx.Client]:
    with hostile.client() as c:
        yield c


@pytest.fixture(scope="module")
def done_job(hostile: RunningServer) -> str:
    url = hostile.create_job(run=True, message="<html><script>alert(document.cookie)</script></html>")
    assert hostile.wait_final(url)["phase"] == "COMPLETED"
    return url


@pytest.mark.parametrize(
    "method,path,status",
    [
        ("GET", "/health/live", 200),
        ("GET", "/metrics", 200),
        ("GET", "/api/echo/jobs", 200),
        ("GET", "/api/echo/jobs/nosuchjob", 404),
        ("POST", "/api/echo/jobs?colour=red", 400),
        ("XQWERTY", "/health", 405),
        ("GET", "/", 200),
    ],
)
def test_nosniff_on_every_response(client: httpx.Client, method: str, path: str, status: int) -> None:
    response = client.request(method, path)
    assert response.status_code == status, response.text
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_nosniff_on_a_redirect(hostile: RunningServer, client: httpx.Client) -> None:
    response = client.post(hostile.jobs_url(), content=urlencode({"message": "x"}), headers=FORM)
    assert response.status_code == 303
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_user_controlled_text_result_is_a_download_with_a_charset(client: httpx.Client, done_job: str) -> None:
    response = client.get(f"{done_job}/results/message")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_content_disposition_names() -> None:
    assert content_disposition("cut.png", "image/png").startswith('inline; filename="cut.png"')
    header = content_disposition('evil"\r\nname\u00e9.html', "text/html")
    assert header.startswith('attachment; filename="evil___name_.html"')
    assert "\r" not in header and "\n" not in header
    assert "filename*=UTF-8''evil%22%0D%0Aname%C3%A9.html" in header


@pytest.mark.parametrize("host", ["evil.example.org", "evil.example.org:80", "127.0.0.1.evil.example.org"])
def test_a_foreign_host_is_refused_not_reflected(hostile: RunningServer, host: str) -> None:
    for path, form in (("/api/echo/jobs", b"message=x"), ("/", b"")):
        method = "POST" if form else "GET"
        answer = raw_request(
            hostile,
            f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(form)}\r\n\r\n".encode()
            + form,
        )
        assert status_of(answer) == 400, answer[:300]
        assert b"evil" not in answer.partition(b"\r\n\r\n")[0], answer  # no Location to it
        assert b"SPT_API_ALLOWED_HOSTS" in answer


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:1", "localhost:65000", "LOCALHOST", "[::1]:8080"])
def test_the_port_does_not_matter(hostile: RunningServer, host: str) -> None:
    answer = raw_request(hostile, f"GET /api/echo/jobs HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    assert status_of(answer) == 200, answer[:300]


def test_probes_by_pod_address_are_answered(hostile: RunningServer) -> None:
    for path in ("/health", "/health/live", "/metrics"):
        answer = raw_request(hostile, f"GET {path} HTTP/1.1\r\nHost: 10.1.2.3:8080\r\n\r\n".encode())
        assert status_of(answer) == 200, (path, answer[:300])


def test_allowed_hosts_setting() -> None:
    assert Settings(host="0.0.0.0").allowed_host_names >= {"0.0.0.0", "localhost", "127.0.0.1"}
    assert Settings(allowed_hosts="api.example.org, .example.net").allowed_host_names == {
        "api.example.org",
        ".example.net",
    }
    assert host_name("[::1]:8080") == "::1"
    assert host_name("Example.ORG:443") == "example.org"


def test_a_trusted_origin_gets_cors_headers(hostile: RunningServer, client: httpx.Client) -> None:
    response = client.get(hostile.jobs_url(), headers={"Origin": TRUSTED_ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == TRUSTED_ORIGIN
    other = client.get(hostile.jobs_url(), headers={"Origin": "https://evil.example.org"})
    assert other.status_code == 200
    assert "Access-Control-Allow-Origin" not in other.headers


def test_a_preflight_from_a_trusted_origin(hostile: RunningServer, client: httpx.Client) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    response = client.options(hostile.jobs_url(), headers={"Origin": TRUSTED_ORIGIN, **preflight})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == TRUSTED_ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    refused = client.options(hostile.jobs_url(), headers={"Origin": "https://evil.example.org", **preflight})
    assert refused.status_code == 405
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_every_http_origin_check_reads_an_origin_alike(hostile: RunningServer, client: httpx.Client) -> None:
    # The CORS headers, the preflight and the cross-site POST check all ask Settings.trusts_origin: the
    # trusted origin spelt in capitals with a trailing slash is trusted by each of them, and a look-alike by none.
    variant = TRUSTED_ORIGIN.upper() + "/"
    assert client.get(hostile.jobs_url(), headers={"Origin": variant}).headers["Access-Control-Allow-Origin"] == variant
    preflight = {"Access-Control-Request-Method": "POST"}
    assert client.options(hostile.jobs_url(), headers={"Origin": variant, **preflight}).status_code == 204
    posted = client.post(hostile.jobs_url(), content=b"message=variant", headers={**FORM, "Origin": variant})
    assert posted.status_code == 303, posted.text
    lookalike = TRUSTED_ORIGIN + ".evil.com"
    assert "Access-Control-Allow-Origin" not in client.get(hostile.jobs_url(), headers={"Origin": lookalike}).headers
    assert client.options(hostile.jobs_url(), headers={"Origin": lookalike, **preflight}).status_code == 405
    refused = client.post(hostile.jobs_url(), content=b"message=no", headers={**FORM, "Origin": lookalike})
    assert refused.status_code == 403


def test_trusts_origin() -> None:
    settings = Settings(cors_origins=" https://App.example.org/ , https://other.example.org")
    assert settings.trusts_origin("https://app.example.org")
    assert settings.trusts_origin("HTTPS://APP.EXAMPLE.ORG/")
    assert settings.trusts_origin(" https://other.example.org ")
    for origin in (None, "", "null", "https://app.example.org.evil.com", "http://app.example.org"):
        assert not settings.trusts_origin(origin), origin
    assert not Settings(cors_origins="").trusts_origin("https://app.example.org")


@pytest.mark.parametrize("origin", ["https://evil.example.org", "null", "http://127.0.0.1"])
def test_a_cross_site_form_post_is_refused(hostile: RunningServer, client: httpx.Client, origin: str) -> None:
    before = len(client.get(hostile.jobs_url(), headers=JSON).json()["jobs"])
    response = client.post(hostile.jobs_url(), content=b"message=csrf", headers={**FORM, **JSON, "Origin": origin})
    assert response.status_code == 403, response.text
    assert "cross-site" in response.json()["message"]
    assert len(client.get(hostile.jobs_url(), headers=JSON).json()["jobs"]) == before


def test_a_cross_site_delete_is_refused(hostile: RunningServer, client: httpx.Client) -> None:
    job = hostile.create_job(message="keep me")
    assert client.delete(job, headers={"Origin": "https://evil.example.org"}).status_code == 403
    assert client.get(job).status_code == 200


@pytest.mark.parametrize("origin", ["own", TRUSTED_ORIGIN, None])
def test_same_site_trusted_and_non_browser_posts_pass(
    hostile: RunningServer, client: httpx.Client, origin: str | None
) -> None:
    headers = dict(FORM)
    if origin is not None:
        headers["Origin"] = hostile.base_url if origin == "own" else origin
    response = client.post(hostile.jobs_url(), content=b"message=fine", headers=headers)
    assert response.status_code == 303, response.text


@pytest.mark.parametrize("env", ["prod", "dev1", "dev2"])
def test_the_chart_allows_its_ingress_and_service_hosts(env: str) -> None:
    from spt_api.deploy import render_environment

    objs = render_environment(env)
    config = next(o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-config"))
    settings = Settings(allowed_hosts=config["data"]["SPT_API_ALLOWED_HOSTS"], host=config["data"]["SPT_API_HOST"])
    hosts = {r["host"] for o in objs if o["kind"] == "Ingress" for r in o["spec"]["rules"]}
    hosts |= {o["metadata"]["name"] for o in objs if o["kind"] == "Service" and o["metadata"]["name"].endswith("-api")}
    assert hosts and hosts <= settings.allowed_host_names
