"""Fixtures of the auth tests: the Keycloak stand-in (a real OIDC provider) and an API server that trusts it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.auth.standin import KeycloakStandIn, RealmKey
from tests.conftest import embedded_settings
from tests.support.server import RunningServer, serving

SESSION_SECRET = "test-session-secret-0123456789abcdef"


def auth_settings(data_dir: Path, keycloak_url: str, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "auth_enabled": True,
        "keycloak_url": keycloak_url,
        "keycloak_realm": "spt",
        "keycloak_client_id": "spt-api",
        "keycloak_client_secret": "spt-api-secret",
        "session_secret": SESSION_SECRET,
        # A rotation is seen at once (production: at most one forced fetch per 10 s).
        "keycloak_jwks_min_refresh": 0,
        "embedded_pool_size": 1,
        "reconcile_interval": 0,
    }
    values.update(overrides)
    return embedded_settings(data_dir, **values)


@pytest.fixture(scope="session")
def realm_key(tmp_path_factory: pytest.TempPathFactory) -> RealmKey:
    return RealmKey(tmp_path_factory.mktemp("realm") / "key.json")


@pytest.fixture(scope="session")
def keycloak(realm_key: RealmKey) -> Iterator[KeycloakStandIn]:
    standin = KeycloakStandIn(realm_key).start()
    yield standin
    standin.stop()


@pytest.fixture(scope="session")
def auth_server(keycloak: KeycloakStandIn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with serving(auth_settings(tmp_path_factory.mktemp("auth"), keycloak.url)) as running:
        yield running


@pytest.fixture
def http(auth_server: RunningServer) -> Iterator[httpx.Client]:
    with auth_server.client() as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}
