"""Who may name which stored input file (``spt_api/input_access.py``), with real users of the OIDC stand-in.

A user names an upload of their own jobs by its key; another user's upload or any job's results get
the very answer a missing object gets (no job id leaks); an admin may name any job's upload (an admin
sees every job). Runs the ``filecopy`` test service (tests/uploads) behind authentication.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.uws_helpers import wait_until_final
from tests.auth.conftest import auth_settings, bearer
from tests.auth.standin import KeycloakStandIn
from tests.support.server import RunningServer, start_server
from tests.uploads.conftest import filecopy_installed  # noqa: F401 - the fixture, used by name

__all__: list[str] = []

NPY_LIKE = bytes(range(256)) * 8  # not UTF-8: arrives byte for byte or not at all


@pytest.fixture(scope="module")
def server(
    keycloak: KeycloakStandIn,
    filecopy_installed: None,  # noqa: F811 - the fixture imported above
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningServer]:
    settings = auth_settings(tmp_path_factory.mktemp("inputs-auth"), keycloak.url, services="filecopy")
    running, stop = start_server(settings)
    yield running
    stop()


class Users:
    def __init__(self, server: RunningServer, keycloak: KeycloakStandIn, http: httpx.Client) -> None:
        self.server, self.http = server, http
        self.tokens = {user: keycloak.access_token(user) for user in ("alice", "bob", "admin")}

    def submit(self, user: str, files: dict[str, Any] | None = None, **data: str) -> httpx.Response:
        return self.http.post(
            self.server.jobs_url("filecopy"), data=data, files=files, headers=bearer(self.tokens[user])
        )

    def job(self, user: str, url: str, **params: str) -> dict[str, Any]:
        response = self.http.get(url, params=params, headers=bearer(self.tokens[user]))
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        return job

    def completed(self, user: str, response: httpx.Response) -> tuple[str, dict[str, Any]]:
        assert response.status_code == 303, response.text
        url = response.headers["Location"]
        job = wait_until_final(self.http, url, timeout=120, headers=bearer(self.tokens[user]))
        assert job["phase"] == "COMPLETED", job
        return url, job

    def copied(self, user: str, url: str) -> bytes:
        response = self.http.get(f"{url}/results/copy", headers=bearer(self.tokens[user]), follow_redirects=True)
        assert response.status_code == 200, response.text
        return response.content


def blob(job: dict[str, Any]) -> str:
    params = job["parameters"]
    if isinstance(params, dict):
        value = params["blob"]
    else:
        value = next(p["value"] for p in params if p.get("id", p.get("name")) == "blob")
    return str(value[0] if isinstance(value, list) else value)


@pytest.fixture(scope="module")
def users(server: RunningServer, keycloak: KeycloakStandIn) -> Iterator[Users]:
    with server.client() as http:
        yield Users(server, keycloak, http)


@pytest.fixture(scope="module")
def alices(users: Users) -> tuple[str, dict[str, Any]]:
    """A completed job of alice's, with her upload (inputs/<job id>/a.bin) and a result."""
    return users.completed("alice", users.submit("alice", files={"blob": ("a.bin", NPY_LIKE)}, PHASE="RUN"))


def test_another_users_upload_or_result_reads_as_a_missing_object(users: Users, alices: Any) -> None:
    _, job = alices
    upload = blob(job)
    result = f"filecopy/{job['jobId']}/copy.bin"
    nowhere = f"inputs/{'0' * 20}/a.bin"  # a job id no job has
    missing = users.submit("bob", blob=nowhere, PHASE="RUN")
    assert missing.status_code == 400 and missing.json()["parameter"] == "blob", missing.text
    for ref in (upload, result):
        refused = users.submit("bob", blob=ref, PHASE="RUN")
        assert refused.status_code == 400, refused.text
        body = refused.json()
        # The same answer, word for word: bob cannot tell alice's job from no job at all.
        assert body["parameter"] == "blob" and body["message"] == missing.json()["message"].replace(nowhere, ref)
    # Her own result is no input for alice either; her upload is, and she gets her own copy of it.
    own_result = users.submit("alice", blob=result, PHASE="RUN")
    assert own_result.status_code == 400 and "no stored input" in own_result.json()["message"]
    second_url, second = users.completed("alice", users.submit("alice", blob=upload, PHASE="RUN"))
    assert blob(second) == f"inputs/{second['jobId']}/a.bin" and users.copied("alice", second_url) == NPY_LIKE


def test_an_admin_may_name_any_users_upload(users: Users, alices: Any) -> None:
    _, job = alices
    url, copy = users.completed("admin", users.submit("admin", blob=blob(job), PHASE="RUN"))
    assert copy["ownerId"] == "admin" and blob(copy).startswith(f"inputs/{copy['jobId']}/")
    assert users.copied("admin", url) == NPY_LIKE


def test_a_parameter_update_cannot_name_another_users_upload(users: Users, alices: Any) -> None:
    _, job = alices
    created = users.submit("bob", files={"blob": ("b.bin", b"bob's")})
    assert created.status_code == 303, created.text
    url = created.headers["Location"]
    refused = users.http.post(f"{url}/parameters", data={"blob": blob(job)}, headers=bearer(users.tokens["bob"]))
    assert refused.status_code == 400 and refused.json()["parameter"] == "blob", refused.text
    assert "no stored input" in refused.json()["message"]
    assert blob(users.job("bob", url)).endswith("/b.bin")
