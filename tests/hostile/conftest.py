"""One embedded server shared by the hostile tests that need no settings of their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import embedded_settings
from tests.hostile._support import TRUSTED_ORIGIN
from tests.support.server import RunningServer, start_server


@pytest.fixture(scope="session")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = embedded_settings(
        tmp_path_factory.mktemp("hostile"),
        embedded_pool_size=1,
        reconcile_interval=0,
        cors_origins=TRUSTED_ORIGIN,
    )
    running, stop = start_server(settings)
    yield running
    stop()
