"""Per-user jobs: the owner is the token's subject, shown by login name; another user's job is a 404 everywhere."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from spt_api.uws.principal import Principal
from tests.auth.conftest import bearer
from tests.auth.standin import USERS, KeycloakStandIn
from tests.support.server import RunningServer


class Users:
    def __init__(self, server: RunningServer, keycloak: KeycloakStandIn, http: httpx.Client) -> None:
        self.server, self.http = server, http
        self.tokens = {user: keycloak.access_token(user) for user in ("alice", "bob", "admin")}

    def get(self, user: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(url, headers=bearer(self.tokens[user]), **kwargs)

    def create(self, user: str, service: str = "echo", **params: str) -> str:
        response = self.http.post(
            self.server.jobs_url(service), data={**params, "PHASE": "RUN"}, headers=bearer(self.tokens[user])
        )
        assert response.status_code == 303, response.text
        return response.headers["Location"]

    def done(self, user: str, url: str) -> dict[str, Any]:
        job: dict[str, Any] = self.get(user, url, params={"WAIT": "30", "PHASE": "EXECUTING"}).json()
        while job["phase"] in ("PENDING", "QUEUED", "EXECUTING"):
            job = self.get(user, url, params={"WAIT": "30"}).json()
        return job

    def listed(self, user: str, **params: str) -> set[str]:
        response = self.get(user, self.server.jobs_url("echo"), params=params)
        assert response.status_code == 200, response.text
        return {job["href"] for job in response.json()["jobs"]}


@pytest.fixture(scope="module")
def users(auth_server: RunningServer, keycloak: KeycloakStandIn) -> Any:
    with auth_server.client() as http:
        yield Users(auth_server, keycloak, http)


def test_jobs_are_their_owners_alone(users: Users) -> None:
    alice_job = users.create("alice", message="alice's secret")
    bob_job = users.create("bob", message="bob's")
    assert users.done("alice", alice_job)["phase"] == "COMPLETED"
    document = users.get("alice", alice_job).json()
    assert document["ownerId"] == "alice"
    assert users.get("alice", f"{alice_job}/owner").text == "alice"
    xml = users.http.get(alice_job, headers={"Authorization": f"Bearer {users.tokens['alice']}"}).text
    assert "<uws:ownerId>alice</uws:ownerId>" in xml

    # bob: not in his list, and a 404 (not 403: ids do not leak) for the document, its parts and results
    assert alice_job not in users.listed("bob") and bob_job in users.listed("bob")
    assert alice_job in users.listed("alice") and bob_job not in users.listed("alice")
    for path in ("", "/phase", "/parameters", "/results", "/results/message", "/owner", "/error"):
        response = users.get("bob", alice_job + path)
        assert response.status_code == 404, (path, response.text)
    for method, path, data in [("DELETE", "", None), ("POST", "/phase", {"PHASE": "ABORT"}),
                               ("POST", "", {"ACTION": "DELETE"})]:
        response = users.http.request(method, alice_job + path, data=data, headers=bearer(users.tokens["bob"]))
        assert response.status_code == 404, (method, path, response.text)
    # The one control: alice downloads what bob could not.
    result = users.get("alice", alice_job + "/results/message", follow_redirects=True)
    assert result.content == b"alice's secret"


def test_an_admin_sees_every_job_and_filters_by_owner(users: Users) -> None:
    alice_job = users.create("alice", message="a")
    bob_job = users.create("bob", message="b")
    everyone = users.listed("admin")
    assert {alice_job, bob_job} <= everyone
    only_alice = users.listed("admin", OWNER="alice")
    assert alice_job in only_alice and bob_job not in only_alice
    assert alice_job in users.listed("admin", OWNER=USERS["alice"])  # by subject too
    assert users.get("admin", bob_job).json()["ownerId"] == "bob"
    # OWNER does not widen a user's view.
    assert users.listed("bob", OWNER="alice") == set()


def test_sync_answers_are_per_user(users: Users) -> None:
    response = users.http.get(
        f"{users.server.api}/echo/sync", params={"message": "sync of alice", "RUNID": "alice-sync"},
        headers={"Authorization": f"Bearer {users.tokens['alice']}"},
    )
    assert response.status_code == 200 and response.content == b"sync of alice"
    alice_jobs = users.get("alice", users.server.jobs_url("echo")).json()["jobs"]
    sync_job = next(job["href"] for job in alice_jobs if job["runId"] == "alice-sync")
    assert users.get("bob", sync_job + "/results/message").status_code == 404
    bobs = users.get("bob", users.server.jobs_url("echo")).json()["jobs"]
    assert not any(job["runId"] == "alice-sync" for job in bobs)


def test_a_renamed_account_keeps_its_jobs_and_a_reused_name_inherits_none(
    users: Users, auth_server: RunningServer, keycloak: KeycloakStandIn
) -> None:
    job = users.create("bob", message="before the rename")
    renamed = keycloak.mint(keycloak.claims("bob", preferred_username="robert"))
    response = users.http.get(job, headers=bearer(renamed))
    assert response.status_code == 200  # the subject owns the job, whatever its name
    # The new name shows on the account's jobs (renamed in the background, once per name).
    from tests.support._proc import wait_until

    wait_until(lambda: users.http.get(job, headers=bearer(renamed)).json()["ownerId"] == "robert",
               timeout=10, what="the job shows the new name")
    # A new account (another subject) that now calls itself "bob" sees none of the old bob's jobs.
    impostor = keycloak.mint(keycloak.claims("bob", sub="0b0b0b0b-new-account", preferred_username="bob"))
    assert users.http.get(job, headers=bearer(impostor)).status_code == 404
    listed = users.http.get(users.server.jobs_url("echo"), headers=bearer(impostor)).json()["jobs"]
    assert listed == []
    store = auth_server.backends.jobs.store
    stored = store.get(Principal.system_actor("tests"), job.rsplit("/", 1)[1])
    assert stored is not None and stored.owner == USERS["bob"]
