"""Keycloak unreachable when the API starts: the API serves, token requests get 503 (not 500), and it
recovers by itself once Keycloak answers."""

from __future__ import annotations

import pytest

from tests.auth.conftest import auth_settings, bearer
from tests.auth.standin import KeycloakStandIn, RealmKey
from tests.support._proc import free_port, wait_until
from tests.support.server import start_server


def test_the_api_starts_without_keycloak_and_recovers(
    realm_key: RealmKey, tmp_path_factory: pytest.TempPathFactory
) -> None:
    standin = KeycloakStandIn(realm_key, port=free_port())  # not started yet: nothing listens there
    server, stop = start_server(auth_settings(tmp_path_factory.mktemp("down"), standin.url))
    try:
        token = standin.mint(standin.claims())
        with server.client() as http:
            assert http.get("/health/live").status_code == 200
            response = http.get(server.jobs_url("echo"), headers=bearer(token))
            assert response.status_code == 503, response.text
            assert response.json()["error"] == "service_unavailable"
            assert response.headers["Retry-After"]
            # No token is still a 401: nothing to check.
            assert http.get(server.jobs_url("echo"), headers={"Accept": "application/json"}).status_code == 401
            standin.start()
            wait_until(lambda: http.get(server.jobs_url("echo"), headers=bearer(token)).status_code == 200,
                       timeout=20, what="the API checks tokens once Keycloak is back")
            # Keycloak down again: the keys are cached, tokens are still checked.
            standin.stop()
            assert http.get(server.jobs_url("echo"), headers=bearer(token)).status_code == 200
            assert http.get(server.jobs_url("echo"), headers=bearer("x.y.z")).status_code == 401
    finally:
        stop()
        standin.stop()


def test_unknown_key_ids_do_not_hammer_keycloak(
    realm_key: RealmKey, tmp_path_factory: pytest.TempPathFactory
) -> None:
    standin = KeycloakStandIn(realm_key).start()
    server, stop = start_server(
        auth_settings(tmp_path_factory.mktemp("kids"), standin.url, keycloak_jwks_min_refresh=3600)
    )
    try:
        with server.client() as http:
            assert http.get(server.jobs_url("echo"), headers=bearer(standin.mint(standin.claims()))).status_code == 200
            before = standin.stats()["certs"]
            for n in range(20):
                token = standin.mint(standin.claims(), kid=f"made-up-{n}")
                assert http.get(server.jobs_url("echo"), headers=bearer(token)).status_code == 401
            assert standin.stats()["certs"] == before
    finally:
        stop()
        standin.stop()
