"""Kubernetes probes and Prometheus metrics: /health, /health/live, /metrics."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.uws_helpers import wait_until_final
from tests.support.server import RunningServer


def test_health_reports_each_component(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "ok"
    components = body["components"]
    assert set(components) >= {"database", "queue", "storage", "events"}
    for name, component in components.items():
        assert component["status"] == "ok", (name, component)


def test_readiness_alias(client: httpx.Client) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_liveness(client: httpx.Client) -> None:
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "pid": response.json()["pid"]}
    assert isinstance(response.json()["pid"], int)


def test_metrics(server: RunningServer, client: httpx.Client) -> None:
    url = server.create_job(run=True, message="counted")
    assert wait_until_final(client, url)["phase"] == "COMPLETED"
    client.get(url)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    assert "spt_jobs" in families
    jobs = {(s.labels["service"], s.labels["phase"]): s.value for s in families["spt_jobs"].samples}
    assert jobs.get(("echo", "COMPLETED"), 0) >= 1
    latency = families["spt_http_request_duration_seconds"]
    counts = [s for s in latency.samples if s.name.endswith("_count")]
    assert counts and sum(s.value for s in counts) >= 1
    assert {s.labels["method"] for s in counts} >= {"GET", "POST"}
    assert all("route" in s.labels and "status" in s.labels for s in counts)


@pytest.mark.parametrize("path", ["/", "/api", "/api/"])
def test_the_root_and_the_api_base_say_where_to_go(server: RunningServer, client: httpx.Client, path: str) -> None:
    """The first URL a newcomer opens is not a 404: it lists the services' job lists and the entry points."""
    response = client.get(server.base_url + path)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    index = response.json()
    assert [s["name"] for s in index["services"]] == sorted(server.backends.jobs.services)
    assert {s["name"]: s["jobs"] for s in index["services"]}["echo"] == server.jobs_url("echo")
    # The web app's link comes with its build (tests/api/test_pages.py), which `make test` makes first.
    links = {name: url for name, url in index["links"].items() if name != "webapp"}
    assert links == {
        "services": f"{server.api}/services",
        "openapi": f"{server.api}/openapi.json",
        "health": f"{server.base_url}/health",
        "metrics": f"{server.base_url}/metrics",
    }
    for url in (*index["links"].values(), *(s["jobs"] for s in index["services"])):
        assert client.get(url).status_code == 200, url
