"""Bearer tokens against a real OIDC provider (the Keycloak stand-in): each case's exact status and challenge."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.auth.conftest import bearer
from tests.auth.standin import KeycloakStandIn
from tests.support.server import RunningServer

INVALID = 'Bearer error="invalid_token"'


def jobs_url(server: RunningServer) -> str:
    return server.jobs_url("echo")


def answer(http: httpx.Client, server: RunningServer, token: str) -> httpx.Response:
    return http.get(jobs_url(server), headers=bearer(token))


def assert_invalid(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == INVALID
    assert response.json()["error"] == "invalid_token"


def test_no_token_is_401_with_the_realm_challenge(http: httpx.Client, auth_server: RunningServer) -> None:
    response = http.get(jobs_url(auth_server), headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="spt"'
    assert response.json()["error"] == "unauthenticated"


def test_a_token_from_the_realm_is_accepted(
    http: httpx.Client, auth_server: RunningServer, keycloak: KeycloakStandIn
) -> None:
    response = answer(http, auth_server, keycloak.access_token("alice"))
    assert response.status_code == 200, response.text


def test_a_minted_token_with_the_realm_key_is_accepted(
    http: httpx.Client, auth_server: RunningServer, keycloak: KeycloakStandIn
) -> None:
    # The control for the forged tokens below: the same claims, signed right, pass.
    assert answer(http, auth_server, keycloak.mint(keycloak.claims())).status_code == 200


@pytest.mark.parametrize(
    ("case", "overrides"),
    [
        ("expired", {"exp": -120}),  # beyond the 30 s leeway
        ("not yet valid", {"nbf": 300}),
        ("wrong issuer", {"iss": "http://127.0.0.1:1/realms/other"}),
        ("wrong audience", {"aud": "account"}),
        ("no expiry", {"exp": None}),
    ],
)
def test_bad_claims_are_401_invalid_token(
    http: httpx.Client, auth_server: RunningServer, keycloak: KeycloakStandIn, case: str, overrides: dict[str, Any]
) -> None:
    now = int(time.time())
    changes = {k: (now + v if k in ("exp", "nbf") and v is not None else v) for k, v in overrides.items()}
    assert_invalid(answer(http, auth_server, keycloak.mint(keycloak.claims(**changes))))


def test_within_the_leeway_a_just_expired_token_passes(
    http: httpx.Client, auth_server: RunningServer, keycloak: KeycloakStandIn
) -> None:
    token = keycloak.mint(keycloak.claims(exp=int(time.time()) - 5))
    assert answer(http, auth_server, token).status_code == 200


def test_a_token_signed_by_another_key_is_401(
    http: httpx.Client, auth_server: RunningServer, keycloak: KeycloakStandIn
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_invalid(answer(http, auth_server, keycloak.mint(keycloak.claims(), key=other)))  # the realm's kid
    assert_invalid(answer(http, auth_server, keycloak.mint(keycloak.claims(), key=other, kid="made-up")))


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_alg_none_is_401(http: httpx.Client, auth_server: RunningServer, keycloak: KeycloakStandIn) -> None:
    header = {"alg": "none", "typ": "JWT", "kid": keycloak.key.kid}
    assert_invalid(answer(http, auth_server, f"{_b64(header)}.{_b64(keycloak.claims())}."))


def test_hs256_signed_with_the_public_key_is_401(
    http: httpx.Client, auth_server: RunningServer, keycloak: KeycloakStandIn
) -> None:
    public_pem = keycloak.key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # PyJWT refuses to HMAC with a PEM key; sign by hand as an attacker would.
    import hashlib
    import hmac

    header = _b64({"alg": "HS256", "typ": "JWT", "kid": keycloak.key.kid})
    signing_input = f"{header}.{_b64(keycloak.claims())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    assert_invalid(answer(http, auth_server, token))


def test_altered_claims_are_401(http: httpx.Client, auth_server: RunningServer, keycloak: KeycloakStandIn) -> None:
    header, _, signature = keycloak.access_token("carol").split(".")
    claims = keycloak.claims("carol", realm_access={"roles": ["spt-user", "spt-admin"]})
    assert_invalid(answer(http, auth_server, f"{header}.{_b64(claims)}.{signature}"))


def test_garbage_and_empty_tokens_are_401(http: httpx.Client, auth_server: RunningServer) -> None:
    assert_invalid(answer(http, auth_server, "not-a-jwt"))
    response = http.get(jobs_url(auth_server), headers={"Authorization": "Bearer", "Accept": "application/json"})
    assert_invalid(response)


def test_an_id_token_is_not_an_access_token(
    http: httpx.Client, auth_server: RunningServer, keycloak: KeycloakStandIn
) -> None:
    assert_invalid(answer(http, auth_server, keycloak.mint(keycloak.claims(typ="ID"))))


def test_a_valid_token_without_the_user_role_is_403(
    http: httpx.Client, auth_server: RunningServer, keycloak: KeycloakStandIn
) -> None:
    response = answer(http, auth_server, keycloak.access_token("carol"))
    assert response.status_code == 403, response.text
    assert response.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'
    assert "spt-user" in response.json()["message"]


def test_public_resources_need_no_token(http: httpx.Client, auth_server: RunningServer) -> None:
    for path in ("/health", auth_server.settings.base_path + "/services", "/"):
        assert http.get(path, headers={"Accept": "application/json"}).status_code == 200, path


def test_a_rotated_key_is_fetched_once(
    http: httpx.Client, auth_server: RunningServer, keycloak: KeycloakStandIn
) -> None:
    assert answer(http, auth_server, keycloak.access_token("alice")).status_code == 200
    before = keycloak.stats()["certs"]
    keycloak.rotate()
    token = keycloak.access_token("alice")
    assert jwt.get_unverified_header(token)["kid"] != keycloak.key.kid
    for _ in range(3):
        assert answer(http, auth_server, token).status_code == 200
    assert keycloak.stats()["certs"] == before + 1


def test_a_cors_preflight_needs_no_token(keycloak: KeycloakStandIn, tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.auth.conftest import auth_settings
    from tests.support.server import start_server

    origin = "https://app.example.org"
    server, stop = start_server(
        auth_settings(tmp_path_factory.mktemp("cors"), keycloak.url, cors_origins=origin)
    )
    try:
        with server.client() as http:
            response = http.options(jobs_url(server), headers={
                "Origin": origin, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization"})
            assert response.status_code == 204, response.text
            assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    finally:
        stop()
