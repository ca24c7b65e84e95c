"""The realm export matches what the API expects: realm, clients, PKCE, roles and the audience mapper."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from spt_api.config import Settings
from spt_api.handlers.account import ACCOUNT_ROUTES

EXPORT = Path(__file__).resolve().parents[2] / "deploy" / "keycloak" / "realm-spt.json"


def realm() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXPORT.read_text())
    return data


def client(client_id: str) -> dict[str, Any]:
    return next(c for c in realm()["clients"] if c["clientId"] == client_id)


def test_realm_and_roles_are_the_settings_defaults() -> None:
    defaults = Settings()
    data = realm()
    assert data["realm"] == defaults.keycloak_realm and data["enabled"]
    roles = {role["name"]: role for role in data["roles"]["realm"]}
    assert set(roles) == {defaults.auth_user_role, defaults.auth_admin_role}
    assert roles["spt-admin"]["composites"]["realm"] == ["spt-user"]


def test_clients_use_pkce_and_put_the_api_in_the_audience() -> None:
    defaults = Settings()
    api, web = client(defaults.keycloak_client_id), client("spt-web")
    assert api["publicClient"] is False and api["clientAuthenticatorType"] == "client-secret"
    assert web["publicClient"] is True
    for entry in (api, web):
        assert entry["attributes"]["pkce.code.challenge.method"] == "S256"
        assert entry["standardFlowEnabled"] and not entry["implicitFlowEnabled"]
        (mapper,) = entry["protocolMappers"]
        assert mapper["protocolMapper"] == "oidc-audience-mapper"
        assert mapper["config"]["included.client.audience"] == defaults.effective_keycloak_audience
        assert mapper["config"]["access.token.claim"] == "true"
    callback = next(path for path, _ in ACCOUNT_ROUTES if path.endswith("callback"))
    assert api["redirectUris"] and all(uri.endswith(callback) for uri in api["redirectUris"])
