"""Fixtures of the inference tests: the models built once, an embedded server serving them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from spt_api.testing import ServerThread, start_server_thread
from tests.conftest import embedded_settings
from tests.inference.models import Models, build


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    return build(tmp_path_factory.mktemp("inference"))


@pytest.fixture(scope="module")
def inference_server(models: Models, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    settings = embedded_settings(
        tmp_path_factory.mktemp("inference-server"),
        services="inference,echo",
        service_settings={"inference": {"models_url": str(models.repository)}},
        max_body_size=16 * 1024 * 1024,
    )
    server = start_server_thread(settings)
    yield server
    server.stop()
