"""A service's extra HTTP resources (ServiceSpec.resources): one core handler, JSON answers, the usual errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from spt_api.services import (
    NotFoundError,
    ParamsModel,
    Resource,
    ResourceRequest,
    ServiceRegistry,
    ServiceSpec,
    UsageError,
)
from spt_api.testing import ServerThread, start_server_thread
from tests.conftest import embedded_settings

SHELF: dict[str, str] = {}


def _list(req: ResourceRequest) -> Any:
    return {"books": sorted(SHELF), "limit": req.param("limit")}


def _get(req: ResourceRequest) -> Any:
    name = req.path_args["name"]
    if name not in SHELF:
        raise NotFoundError(f"no book named {name!r}")
    return {"name": name, "text": SHELF[name], "anonymous": req.principal.user_id is None}


def _post(req: ResourceRequest) -> Any:
    text = req.param("text")
    if not text:
        raise UsageError("text is required", parameter="text")
    SHELF[req.path_args["name"]] = text
    req.storage.put_bytes(f"books/{req.path_args['name']}", text.encode())
    return {"stored": req.path_args["name"]}


def _delete(req: ResourceRequest) -> Any:
    return {"deleted": SHELF.pop(req.path_args["name"], None) is not None}


def _boom(req: ResourceRequest) -> Any:
    raise RuntimeError("secret detail")


def resources() -> list[Resource]:
    return [
        Resource("/api/books", get=_list, summary="The books"),
        Resource("/api/books/{name}", get=_get, post=_post, delete=_delete),
        Resource("/api/books/{name}/boom", get=_boom),
    ]


class _Params(ParamsModel):
    pass


SPEC = ServiceSpec(
    name="shelf", title="Shelf", description="A test service with resources", params_model=_Params,
    run="tests.api.test_resources:_get", queue="shelf", resources="tests.api.test_resources:resources",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    data = tmp_path_factory.mktemp("resources")
    thread = start_server_thread(embedded_settings(Path(data), embedded_pool_size=1), services=ServiceRegistry([SPEC]))
    yield thread
    thread.stop()


def test_resources_answer_json_and_reach_the_backends(server: ServerThread) -> None:
    SHELF.clear()
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        assert client.get("/api/books?limit=3").json() == {"books": [], "limit": "3"}
        stored = client.post("/api/books/dune", data={"text": "spice"})
        assert stored.status_code == 200 and stored.json() == {"stored": "dune"}
        assert client.post("/api/books/dune2", json={"text": "sand"}).status_code == 200
        assert client.get("/api/books/").json()["books"] == ["dune", "dune2"]
        assert client.get("/api/books/dune").json() == {"name": "dune", "text": "spice", "anonymous": True}
        assert b"".join(server.backends.jobs.objects.read_chunks("books/dune")) == b"spice"
        assert client.delete("/api/books/dune").json() == {"deleted": True}


def test_resource_errors_are_the_usual_error_documents(server: ServerThread) -> None:
    json_accept = {"Accept": "application/json"}
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        missing = client.get("/api/books/nothing", headers=json_accept)
        assert missing.status_code == 404
        assert missing.json() == {"error": "not_found", "message": "no book named 'nothing'", "status": 404}
        text = client.get("/api/books/nothing")
        assert text.status_code == 404 and text.text == "UsageError: no book named 'nothing'\n"
        bad = client.post("/api/books/x", data={}, headers=json_accept)
        assert bad.status_code == 400 and bad.json()["parameter"] == "text"
        refused = client.delete("/api/books", headers=json_accept)
        assert refused.status_code == 405 and refused.headers["Allow"] == "GET"
        crashed = client.get("/api/books/x/boom", headers=json_accept)
        assert crashed.status_code == 500 and "secret" not in crashed.text


def test_resources_are_listed_in_openapi(server: ServerThread) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        paths = client.get("/api/openapi.json").json()["paths"]
    assert set(paths["/api/books/{name}"]) == {"get", "post", "delete"}
    assert paths["/api/books"]["get"]["summary"] == "The books"
    assert paths["/api/books/{name}"]["get"]["parameters"][0]["name"] == "name"
