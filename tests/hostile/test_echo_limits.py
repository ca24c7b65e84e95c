"""Fix 4: the echo demo is no resource amplifier, and production does not serve it at all."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from spt_api.bootstrap import load_services
from spt_api.config import Settings
from spt_api.deploy import render_environment
from tests.api.uws_helpers import JSON
from tests.support.server import RunningServer

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    "params,parameter,words",
    [
        ({"parts": "100", "size": "67108864"}, "size", ("parts x size", "67108864")),
        ({"parts": "2", "size": "40000000"}, "size", ("parts x size",)),
        ({"parts": "100", "delay": "3600"}, "delay", ("600",)),
        ({"parts": "100", "delay": "7"}, "delay", ("parts x delay", "600")),
        ({"delay": "601"}, "delay", ("600",)),
    ],
    ids=["6.3GB", "80MB", "100-worker-hours", "700s", "one-part-too-long"],
)
def test_echo_totals_are_capped(hostile: RunningServer, params: dict[str, str], parameter: str,
                                words: tuple[str, ...]) -> None:
    with hostile.client() as client:
        response = client.post(hostile.jobs_url(), content=urlencode(params), headers={**FORM, **JSON})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["parameter"] == parameter
    for word in words:
        assert word in body["message"]


@pytest.mark.parametrize("params", [{"parts": "100", "delay": "6"}, {"parts": "4", "size": "16777216"}])
def test_echo_within_the_totals_is_accepted(hostile: RunningServer, params: dict[str, str]) -> None:
    with hostile.client() as client:
        response = client.post(hostile.jobs_url(), content=urlencode(params), headers=FORM)
    assert response.status_code == 303, response.text


def _config(env: str) -> dict[str, str]:
    for obj in render_environment(env):
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"].endswith("-config"):
            return dict(obj["data"])
    raise AssertionError(f"no config map in {env}")


def test_production_serves_no_echo() -> None:
    config = _config("prod")
    served = set(load_services(Settings(services=config["SPT_API_SERVICES"])))
    assert "echo" not in served and "cutout" in served


def test_dev_keeps_every_service() -> None:
    assert "echo" in load_services(Settings(services=_config("dev1").get("SPT_API_SERVICES", "")))
