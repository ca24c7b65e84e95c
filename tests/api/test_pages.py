"""HTML pages for browsers, by content negotiation: the landing page, a job list and a job, escaped.

Checked with a plain HTTP client: the content, that every user-controlled value is rendered inert,
and that API clients (JSON, XML, curl's ``*/*``) keep getting the documents.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.api.uws_helpers import JSON, job_id_of
from tests.conftest import embedded_settings
from tests.support.server import RunningServer, serving

#: What Firefox and Chromium send for a page.
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
HOSTILE = '</td><script>alert("x")</script><img src=x onerror=alert(1)>'


class Elements(HTMLParser):
    """The start tags of a page, with their attributes, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    return parser


@pytest.mark.parametrize(
    ("accept", "kind"),
    [
        (BROWSER["Accept"], "text/html"),
        ("text/html", "text/html"),
        ("*/*", "application/json"),  # curl: the landing page stays JSON
        ("", "application/json"),
        ("application/json", "application/json"),
        ("application/json, text/html", "application/json"),  # JSON named first wins the tie
        ("text/html;q=0.5, application/json", "application/json"),
    ],
)
def test_the_landing_page_is_html_only_for_browsers(server: RunningServer, accept: str, kind: str) -> None:
    with server.client() as client:
        response = client.get("/", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(kind)


def test_the_landing_page_lists_the_services(server: RunningServer) -> None:
    with server.client() as client:
        response = client.get(server.settings.base_path, headers=BROWSER)
    page = parse(response.text)
    links = {attrs.get("href") for tag, attrs in page.tags if tag == "a"}
    assert server.jobs_url("echo") in links and server.jobs_url("cutout") in links
    assert f"{server.api}/openapi.json" in links
    assert "Accept" in response.headers["Vary"]


@pytest.mark.parametrize(
    ("accept", "kind"),
    [
        (BROWSER["Accept"], "text/html"),
        ("*/*", "application/xml"),  # UWS: XML unless the client asks for JSON
        ("application/xml", "application/xml"),
        ("application/json", "application/json"),
    ],
)
def test_job_resources_are_html_only_for_browsers(server: RunningServer, accept: str, kind: str) -> None:
    url = server.create_job(message="negotiated")
    with server.client() as client:
        for resource in (url, server.jobs_url("echo")):
            response = client.get(resource, headers={"Accept": accept})
            assert response.status_code == 200
            assert response.headers["Content-Type"].startswith(kind), resource


def test_a_job_page_shows_phase_parameters_results_and_actions(server: RunningServer) -> None:
    url = server.create_job(message="page me", run=True)
    server.wait_final(url)
    with server.client() as client:
        response = client.get(url, headers=BROWSER)
        document = client.get(url, headers=JSON).json()
    assert response.status_code == 200
    page = parse(response.text)
    text = " ".join(page.text)
    assert "COMPLETED" in text and "page me" in text and "message" in text
    hrefs = {attrs.get("href") for tag, attrs in page.tags if tag == "a"}
    for result in document["results"]:
        assert result["href"] in hrefs, "a result without its download link"
    forms = {(attrs.get("action"), attrs.get("method")) for tag, attrs in page.tags if tag == "form"}
    assert (url, "post") in forms, "no Delete button"
    assert (f"{url}/phase", "post") not in forms, "a finished job offers Run or Abort"
    # The live part: the socket it opens, and its script allowed by nonce alone.
    section = next(attrs for tag, attrs in page.tags if attrs.get("id") == "job")
    assert section["data-events"] == f"{server.settings.base_path}/echo/jobs/{job_id_of(url)}/events"
    nonce = next(attrs["nonce"] for tag, attrs in page.tags if tag == "script")
    assert f"script-src 'nonce-{nonce}'" in response.headers["Content-Security-Policy"]


def test_a_pending_job_page_offers_run_and_works_without_javascript(server: RunningServer) -> None:
    url = server.create_job(message="run me from the page")
    with server.client() as client:
        page = parse(client.get(url, headers=BROWSER).text)
        forms = [attrs for tag, attrs in page.tags if tag == "form"]
        assert any(f.get("action") == f"{url}/phase" for f in forms)
        # The Run button posts PHASE=RUN as a browser does (its Origin is the server itself).
        posted = client.post(
            f"{url}/phase", data={"PHASE": "RUN"}, headers={**BROWSER, "Origin": server.base_url}
        )
        assert posted.status_code == 303 and posted.headers["Location"] == url
    assert server.wait_final(url)["phase"] == "COMPLETED"


def test_a_failed_job_page_shows_the_error(server: RunningServer) -> None:
    url = server.create_job(message="doomed", fail=True, run=True)
    assert server.wait_final(url)["phase"] == "ERROR"
    with server.client() as client:
        page = parse(client.get(url, headers=BROWSER).text)
    classes = {attrs.get("class") for tag, attrs in page.tags}
    assert "error" in classes


def test_user_controlled_values_are_rendered_inert(server: RunningServer) -> None:
    url = server.create_job(message=HOSTILE, RUNID='"><script>alert(2)</script>')
    with server.client() as client:
        job_page = client.get(url, headers=BROWSER).text
        list_page = client.get(server.jobs_url("echo"), headers=BROWSER).text
    for html in (job_page, list_page):
        page = parse(html)
        scripts = [attrs for tag, attrs in page.tags if tag == "script"]
        assert len(scripts) == 1 and scripts[0].get("nonce"), "a script other than the page's own"
        assert not [attrs for tag, attrs in page.tags if tag == "img"]
        assert not any(name.startswith("on") for _, attrs in page.tags for name in attrs)
        assert "<script>alert" not in html
    # Shown as text, exactly as given.
    assert HOSTILE in "".join(parse(job_page).text)
    assert '"><script>alert(2)</script>' in "".join(parse(list_page).text)


def test_a_job_list_page_links_each_job_with_its_phase(server: RunningServer) -> None:
    url = server.create_job(message="listed")
    with server.client() as client:
        html = client.get(server.jobs_url("echo"), headers=BROWSER).text
    page = parse(html)
    rows = [attrs for tag, attrs in page.tags if tag == "tr" and attrs.get("data-job-id")]
    assert job_id_of(url) in {r["data-job-id"] for r in rows}
    assert url in {attrs.get("href") for tag, attrs in page.tags if tag == "a"}
    table = next(attrs for tag, attrs in page.tags if attrs.get("id") == "jobs")
    assert table["data-events"] == f"{server.settings.base_path}/events"
    assert re.search(r"PENDING", html)


def test_a_huge_parameter_list_is_shortened_on_the_page(server: RunningServer) -> None:
    url = server.create_job(message="x" * 5000)
    with server.client() as client:
        text = " ".join(parse(client.get(url, headers=BROWSER).text).text)
    assert "x" * 500 + "… (5000 characters)" in text
    assert "x" * 501 not in text


@pytest.mark.parametrize("built", [True, False])
def test_the_landing_page_links_the_web_app_when_it_is_built(tmp_path: Path, built: bool) -> None:
    """A newcomer at / finds the web app there (`make run` builds it when Node is present)."""
    dist = tmp_path / "dist"
    if built:
        dist.mkdir()
        (dist / "index.html").write_text("<!doctype html><title>app</title>")
    settings = embedded_settings(tmp_path / "data", webapp_dir=str(dist), embedded_pool_size=1)
    with serving(settings) as server, server.client() as client:
        page = client.get("/", headers={"Accept": "text/html"}).text
        links = client.get("/", headers=JSON).json()["links"]
    app = f"{server.base_url}/app/cutout/"
    assert (f'href="{app}"' in page) is built
    assert links.get("webapp") == (app if built else None)
