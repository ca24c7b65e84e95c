"""One embedded spt-api (index and search services) shared by the search tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import faiss
import httpx
import pytest

from spt_api.testing import ServerThread, start_server_thread
from tests.conftest import embedded_settings


@pytest.fixture(scope="session")
def search_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("search"))


@pytest.fixture(scope="session")
def server(search_data_dir: Path) -> Iterator[ServerThread]:
    # One FAISS thread per process: on shared cores idle OpenMP threads spin (a build takes 5 times as long).
    faiss.omp_set_num_threads(1)
    settings = embedded_settings(
        search_data_dir, services="index,search", embedded_pool_size=2, service_settings={"search": {"threads": 1}},
        # The tests' data are shared objects under datasets/ (uploads are tested on their own).
        input_shared_prefixes="datasets/",
    )
    thread = start_server_thread(settings)
    yield thread
    thread.stop()


@pytest.fixture(scope="session")
def client(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        yield client
