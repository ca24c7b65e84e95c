"""Fix 1: every label of the HTTP metrics comes from a closed set, whatever the client sends."""

from __future__ import annotations

import secrets

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.hostile._support import raw_request, status_of
from tests.support.server import RunningServer

LATENCY = "spt_http_request_duration_seconds"


def latency_series(server: RunningServer) -> set[tuple[tuple[str, str], ...]]:
    text = httpx.get(f"{server.base_url}/metrics", timeout=30).text
    series = set()
    for family in text_string_to_metric_families(text):
        if family.name == LATENCY:
            for sample in family.samples:
                if sample.name == LATENCY + "_count":
                    series.add(tuple(sorted(sample.labels.items())))
    return series


def test_random_methods_and_paths_do_not_grow_the_latency_series(hostile: RunningServer) -> None:
    latency_series(hostile)  # the scrape itself is a series
    before = latency_series(hostile)
    statuses = set()
    for i in range(300):
        method = "X" + secrets.token_hex(6).upper()
        path = "/health" if i % 2 else f"/nothing/{secrets.token_hex(8)}"
        answer = raw_request(hostile, f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        statuses.add(status_of(answer))
    assert statuses == {405}
    after = latency_series(hostile)
    assert len(after - before) <= 3, sorted(after - before)[:10]
    for labels in after:
        values = dict(labels)
        assert values["method"] in {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
        assert not values["route"].startswith("/nothing/")


def test_unknown_paths_share_one_route_label(hostile: RunningServer) -> None:
    with httpx.Client(base_url=hostile.base_url) as client:
        for _ in range(20):
            assert client.get(f"/api/{secrets.token_hex(6)}/x/y").status_code == 404
    routes = {dict(labels)["route"] for labels in latency_series(hostile)}
    assert len(routes) < 30, routes


def test_labels_of_a_strange_request_are_from_the_closed_sets() -> None:
    from unittest.mock import MagicMock

    from spt_api.app import metric_labels

    handler = MagicMock()
    handler.request.method = "BREW"
    handler.get_status.return_value = 599
    assert metric_labels(handler, frozenset({"JobHandler"})) == ("other", "other", "5xx")
    handler.request.method = "GET"
    handler.get_status.return_value = 200
    assert metric_labels(handler, frozenset({type(handler).__name__}))[:1] == ("GET",)
