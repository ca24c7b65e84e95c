"""Fix 2: event-loop stalls are visible: a lag histogram in /metrics, a warning naming the handler."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from spt_api.handlers.base import BaseHandler
from spt_api.testing import ServerThread, start_server_thread
from tests.conftest import embedded_settings
from tests.support._proc import wait_until

LAG = "spt_event_loop_lag_seconds"


class BlockingHandler(BaseHandler):
    """Holds the event loop with a synchronous sleep: what a careless handler does."""

    def initialize(self) -> None:  # type: ignore[override]
        pass  # no backends: an extra handler gets no arguments

    def prepare(self) -> None:
        pass  # nor the settings that BaseHandler.prepare checks the request against

    def get(self) -> None:
        time.sleep(0.3)  # sleep-ok: the blocking work this handler stands for
        self.finish("done")


@pytest.fixture(scope="module")
def blocking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    settings = embedded_settings(
        tmp_path_factory.mktemp("lag"), embedded_pool_size=1, reconcile_interval=0, loop_lag_interval=0.02
    )
    thread = start_server_thread(settings, extra_handlers=[(r"/test/block", BlockingHandler)])
    yield thread
    thread.stop()


def lag_samples(base_url: str) -> dict[str, float]:
    text = httpx.get(f"{base_url}/metrics", timeout=30).text
    for family in text_string_to_metric_families(text):
        if family.name == LAG:
            return {s.name + str(sorted(s.labels.items())): s.value for s in family.samples}
    return {}


def test_loop_lag_histogram_is_exported(blocking_server: ServerThread) -> None:
    samples = lag_samples(blocking_server.base_url)
    assert any(name.startswith(f"{LAG}_bucket") for name in samples), samples
    assert f"{LAG}_count[]" in samples


def test_a_blocking_handler_is_named_in_a_warning_and_shows_as_lag(
    blocking_server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    def named() -> bool:
        return any("BlockingHandler" in r.getMessage() and "/test/block" in r.getMessage() for r in caplog.records)

    with caplog.at_level(logging.WARNING, logger="spt_api"):
        assert httpx.get(f"{blocking_server.base_url}/test/block", timeout=30).text == "done"
        # The step is reported when it ends, just after it sent the answer: the server thread may log
        # a moment after the client has read it.
        wait_until(named, timeout=10, what="the warning naming BlockingHandler", interval=0.01)
    # The lag sampler ran late by most of the 0.3 s the handler held the loop.
    wait_until(
        lambda: lag_samples(blocking_server.base_url).get(f"{LAG}_sum[]", 0.0) >= 0.2,
        timeout=10,
        what="the loop lag histogram recording the blocked loop",
    )


def test_an_idle_handler_is_not_reported(blocking_server: ServerThread, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="spt_api"):
        assert httpx.get(f"{blocking_server.base_url}/health/live", timeout=30).status_code == 200
    assert not [r for r in caplog.records if "held the event loop" in r.getMessage()]


