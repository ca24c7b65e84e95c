"""Large bodies are parsed and validated off the event loop: a 10 MB form stalls no other request.

Before, 490,000 POS values were refused with 400, but the loop was held for seconds meanwhile
(``/health`` waited 8.9 s). The server's own stall detector (a warning naming the handler whose
synchronous step held the loop longer than ``SPT_API_SLOW_CALLBACK_SECONDS``) says whether it was.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest

from spt_api.testing import ServerThread, start_server_thread
from tests.conftest import embedded_settings

#: Far above any step a parsed-off-the-loop request takes, far below the seconds an on-loop parse took.
STALL_SECONDS = 0.5


@pytest.fixture(scope="module")
def roomy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    settings = embedded_settings(
        tmp_path_factory.mktemp("large"), max_body_size=32 * 1024 * 1024, slow_callback_seconds=STALL_SECONDS,
        reconcile_interval=0,
    )
    server = start_server_thread(settings)
    yield server
    server.stop()


@pytest.mark.parametrize("service", ["cutout", "echo"])
def test_a_huge_form_is_refused_without_holding_the_loop(
    roomy_server: ServerThread, caplog: pytest.LogCaptureFixture, service: str
) -> None:
    body = urlencode([("POS", f"CIRCLE {i % 360} -50 0.01") for i in range(490_000)])
    assert len(body) > 10_000_000
    with caplog.at_level(logging.WARNING), httpx.Client(base_url=roomy_server.base_url, timeout=120) as client:
        response = client.post(
            f"/api/{service}/jobs", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert response.status_code == 400, response.text[:300]
        assert client.get("/health").status_code == 200
    stalls = [r.getMessage() for r in caplog.records if "held the event loop" in r.getMessage()]
    assert stalls == []


def test_a_large_valid_table_is_accepted_without_holding_the_loop(
    roomy_server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    table = "ra,dec\n" + "\n".join(f"{i % 360}.5,-50.25" for i in range(40_000))
    with caplog.at_level(logging.WARNING), httpx.Client(base_url=roomy_server.base_url, timeout=120) as client:
        response = client.post("/api/cutout/jobs", data={"positions": table})
        assert response.status_code == 303, response.text[:300]
        client.delete(response.headers["Location"])
    assert [r.getMessage() for r in caplog.records if "held the event loop" in r.getMessage()] == []
