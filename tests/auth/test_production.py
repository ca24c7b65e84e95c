"""Per-user jobs on the production stack: PostgreSQL (migration 0007), Redis events, Celery workers, S3."""

from __future__ import annotations

from typing import Any

from tests.api.uws_helpers import wait_until_final
from tests.auth.conftest import SESSION_SECRET, bearer
from tests.auth.standin import KeycloakStandIn
from tests.support.server import start_server


def test_owned_jobs_on_postgres_and_celery(keycloak: KeycloakStandIn, production_infra: Any,
                                           celery_worker: Any) -> None:
    settings = production_infra.settings(
        auth_enabled=True, keycloak_url=keycloak.url, keycloak_client_secret="spt-api-secret",
        session_secret=SESSION_SECRET, reconcile_interval=0,
    )
    server, stop = start_server(settings)
    try:
        alice, bob, admin = (bearer(keycloak.access_token(user)) for user in ("alice", "bob", "admin"))
        with server.client() as http:
            created = http.post(server.jobs_url("echo"), data={"message": "on postgres", "PHASE": "RUN"},
                                headers=alice)
            assert created.status_code == 303, created.text
            job = created.headers["Location"]
            document = wait_until_final(http, job, timeout=120, headers=alice)
            assert document["phase"] == "COMPLETED" and document["ownerId"] == "alice"
            assert http.get(job + "/results/message", headers=bob).status_code == 404
            assert http.get(job, headers=bob).status_code == 404
            listed = http.get(server.jobs_url("echo"), params={"OWNER": "alice"}, headers=admin).json()["jobs"]
            assert job in {entry["href"] for entry in listed}
            result = http.get(job + "/results/message", headers=alice, follow_redirects=True)
            assert result.content == b"on postgres"
    finally:
        stop()
