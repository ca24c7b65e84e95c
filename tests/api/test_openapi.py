"""The OpenAPI 3.1 description: valid, complete, and true of the live server (schemathesis).

The schemathesis run is bounded (a few dozen examples per operation) and no generated input may
produce a 5xx; responses must also match the documented statuses, content types and schemas.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from spt_api.openapi import openapi_document
from spt_api.services import ServiceRegistry
from tests.api.uws_helpers import JSON
from tests.support.server import RunningServer

#: UWS sub-resources every service has under {jobs}/{job_id}.
SUB_RESOURCES = (
    "phase",
    "executionduration",
    "destruction",
    "error",
    "quote",
    "owner",
    "parameters",
    "results",
    "results/{result_id}",
)


@pytest.fixture(scope="module")
def document(server: RunningServer) -> dict[str, Any]:
    with server.client() as client:
        response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    doc: dict[str, Any] = response.json()
    return doc


def test_document_is_valid_openapi_31(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_service_has_its_uws_paths(document: dict[str, Any], client: httpx.Client) -> None:
    services = client.get("/api/services").json()["services"]
    assert services, "no services registered"
    paths = document["paths"]
    for service in services:
        jobs = f"/api/{service['name']}/jobs"
        assert service["jobs"].endswith(jobs)
        assert set(paths[jobs]) >= {"get", "post"}
        assert set(paths[f"{jobs}/{{job_id}}"]) >= {"get", "post", "delete"}
        for sub in SUB_RESOURCES:
            assert f"{jobs}/{{job_id}}/{sub}" in paths, sub
        assert "post" in paths[f"{jobs}/{{job_id}}/phase"]
        # The creation form documents the service's own parameters.
        schema_name = f"{service['name']}_parameters"
        properties = document["components"]["schemas"][schema_name]["properties"]
        assert set(properties) == set(service["parameters"]["properties"])


def test_json_documents_match_their_schemas(
    server: RunningServer, client: httpx.Client, document: dict[str, Any]
) -> None:
    import jsonschema

    components = document["components"]["schemas"]

    def check(instance: Any, name: str) -> None:
        schema = {"$ref": f"#/components/schemas/{name}", "components": {"schemas": components}}
        jsonschema.validate(instance, schema, cls=jsonschema.Draft202012Validator)

    url = server.wait_final(server.create_job(run=True, message="schema", size=3))["href"]
    failed = server.wait_final(server.create_job(run=True, fail="true"))["href"]
    for job_url in (url, failed, server.create_job()):
        check(client.get(job_url, headers=JSON).json(), "Job")
        check(client.get(f"{job_url}/parameters", headers=JSON).json(), "Parameters")
        check(client.get(f"{job_url}/results", headers=JSON).json(), "Results")
    check(client.get(server.jobs_url(), params={"LAST": 5}, headers=JSON).json(), "JobList")
    check(client.get(f"{url}/nope", headers=JSON).json(), "Error")


# -- schemathesis --------------------------------------------------------------------------------

#: Generated echo jobs may be started (PHASE=RUN); keep them short so the pool stays free.
MAX_DELAY = 0.2
MAX_SIZE = 1000


@pytest.fixture(scope="module")
def live_schema(server: RunningServer) -> Iterator[None]:
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    yield
    # Leave no generated job running for the tests that follow.
    with server.client() as client:
        active = client.get(
            server.jobs_url(),
            params=[("AFTER", started), ("PHASE", "QUEUED"), ("PHASE", "EXECUTING")],
            headers=JSON,
        ).json()["jobs"]
        for job in active:
            client.post(f"{job['href']}/phase", data={"PHASE": "ABORT"})


def _tame(case: Any) -> None:
    """Clamp generated echo jobs that may run: a long delay or a big output would hold the pool."""
    body = case.body
    if isinstance(body, dict):
        for name, limit in (("delay", MAX_DELAY), ("size", MAX_SIZE)):
            value = body.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value > limit:
                body[name] = limit


# The document the server serves, built by the same function (checked equal below); a lazy
# ``schemathesis.pytest.from_fixture`` schema would fetch it live, but it breaks on pytest 9
# (it reads ``request.node._nodeid``).
schema = schemathesis.openapi.from_dict(openapi_document(ServiceRegistry.from_entry_points(), "/api"))


def test_served_document_is_the_tested_one(document: dict[str, Any]) -> None:
    assert document == json.loads(json.dumps(openapi_document(ServiceRegistry.from_entry_points(), "/api")))


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_schemathesis(case: Any, server: RunningServer, live_schema: None) -> None:
    _tame(case)
    case.call_and_validate(
        base_url=server.base_url,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
        timeout=60,
    )
