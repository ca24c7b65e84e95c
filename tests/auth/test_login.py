"""The browser login (authorization code + PKCE) through the stand-in's login form, with a plain HTTP client."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from spt_api.auth.session import SESSION_COOKIE, SessionCodec
from tests.auth.conftest import SESSION_SECRET
from tests.auth.standin import USERS, KeycloakStandIn
from tests.support.server import RunningServer

JSON = {"Accept": "application/json"}
PAGE = {"Accept": "text/html,application/xhtml+xml"}


def set_cookie(response: httpx.Response, name: str) -> SimpleCookie:
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        if name in cookie:
            return cookie
    raise AssertionError(f"no Set-Cookie {name} in {response.headers.get_list('set-cookie')}")


def login(client: httpx.Client, server: RunningServer, user: str, next_path: str) -> httpx.Response:
    """Log in through the pages: the API's redirect to the login, Keycloak's form, the callback.
    Returns the callback's answer (the redirect back to ``next_path``)."""
    response = client.get(server.base_url + next_path, headers=PAGE)
    assert response.status_code == 302, response.text
    login_url = urljoin(server.base_url, response.headers["Location"])
    assert parse_qs(urlsplit(login_url).query)["next"] == [next_path]
    response = client.get(login_url)
    assert response.status_code == 302
    authorize = response.headers["Location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0] and query["nonce"][0] and query["client_id"] == ["spt-api"]
    # At Keycloak: follow to the login form, post the credentials, follow until it sends the browser back.
    response = client.get(authorize, follow_redirects=True)
    form = re.search(r'<form id="kc-form-login" method="post" action="([^"]+)"', response.text)
    assert form, response.text
    response = client.post(urljoin(str(response.url), form.group(1)),
                           data={"username": user, "password": f"{user}-pw"})
    while response.status_code in (302, 303) and not response.headers["Location"].startswith(server.base_url):
        response = client.get(urljoin(str(response.url), response.headers["Location"]))
    callback = response.headers["Location"]
    assert callback.startswith(server.base_url + "/account/callback?"), callback
    return client.get(callback)


@pytest.fixture
def browser() -> httpx.Client:
    with httpx.Client(timeout=30) as client:
        yield client


def test_login_session_and_logout(browser: httpx.Client, auth_server: RunningServer, keycloak: KeycloakStandIn) -> None:
    jobs_page = "/api/echo/jobs?PHASE=COMPLETED"
    response = login(browser, auth_server, "alice", jobs_page)
    assert response.status_code == 302 and response.headers["Location"] == jobs_page
    cookie = set_cookie(response, SESSION_COOKIE)[SESSION_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert not cookie["secure"]  # http://127.0.0.1: a browser would drop a Secure cookie
    session = SessionCodec(SESSION_SECRET, 3600).open_session(cookie.value)
    assert session is not None and session.sub == USERS["alice"] and session.refresh_token
    # No token in clear: neither the session's refresh token nor the header of the realm's JWTs (the same
    # for every access and ID token it signs for this client) stands in the sealed cookie. Each is dozens
    # of characters, so random ciphertext never holds one by chance (a bare "eyJ" did, 1 run in ~1000).
    realm = keycloak.password_token("alice")
    headers = {realm[name].split(".")[0] for name in ("access_token", "id_token")}
    assert min(len(h) for h in headers) >= 20, headers
    for clear in (session.refresh_token, *sorted(headers)):
        assert clear not in cookie.value, clear

    me = browser.get(auth_server.base_url + "/account/me", headers=JSON)
    assert me.status_code == 200
    assert me.json() == {"auth": True, "username": "alice", "sub": USERS["alice"], "roles": ["spt-user"],
                         "admin": False}
    assert browser.get(auth_server.base_url + jobs_page, headers=JSON).status_code == 200

    # Writes with the session cookie need the XSRF token; the same write with it passes.
    jobs = auth_server.jobs_url("echo")
    refused = browser.post(jobs, data={"message": "x"}, headers=JSON)
    assert refused.status_code == 403 and "XSRF" in refused.json()["message"]
    forged = browser.post(jobs, data={"message": "x"}, headers={**JSON, "X-XSRFToken": "2|00|11|22"})
    assert forged.status_code == 403
    xsrf = browser.cookies.get("_xsrf")
    assert xsrf
    created = browser.post(jobs, data={"message": "from the browser"}, headers={**JSON, "X-XSRFToken": xsrf})
    assert created.status_code == 303, created.text
    job = created.headers["Location"]
    assert browser.get(job, headers=JSON).json()["ownerId"] == "alice"
    # A form without JavaScript sends the token as a field (it is not a job parameter).
    deleted = browser.post(job, data={"ACTION": "DELETE", "_xsrf": xsrf}, headers=JSON)
    assert deleted.status_code == 303, deleted.text
    # A multipart form (a file upload) carries it as a field too; without it, 403.
    multipart = {"message": (None, "multipart"), "_xsrf": (None, xsrf)}
    assert browser.post(jobs, files=multipart, headers=JSON).status_code == 303
    del multipart["_xsrf"]
    assert browser.post(jobs, files=multipart, headers=JSON).status_code == 403
    no_field = browser.delete(auth_server.jobs_url("echo") + "/nosuchjob", headers=JSON)
    assert no_field.status_code == 403

    # Logout: the cookie goes, the Keycloak session ends (its refresh token no longer works).
    out = browser.get(auth_server.base_url + "/account/logout?next=/")
    assert out.status_code == 302 and out.headers["Location"] == "/"
    assert browser.get(auth_server.base_url + "/account/me", headers=JSON).status_code == 401
    refreshed = httpx.post(f"{keycloak.issuer}/protocol/openid-connect/token", data={
        "grant_type": "refresh_token", "refresh_token": session.refresh_token, "client_id": "spt-api",
        "client_secret": "spt-api-secret"})
    assert refreshed.status_code == 400, refreshed.text


def test_a_bearer_write_needs_no_xsrf_token(auth_server: RunningServer, keycloak: KeycloakStandIn) -> None:
    with httpx.Client() as client:
        token = keycloak.access_token("bob")
        response = client.post(auth_server.jobs_url("echo"), data={"message": "m"},
                               headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 303


def test_me_without_a_session_is_401_json(auth_server: RunningServer) -> None:
    with httpx.Client() as client:
        response = client.get(auth_server.base_url + "/account/me", headers=PAGE)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthenticated"


def test_a_forged_or_altered_session_cookie_is_no_session(auth_server: RunningServer) -> None:
    forged = SessionCodec("another secret, not the server's one", 3600)
    from spt_api.auth.session import Session

    value = forged.seal_session(Session(USERS["admin"], "admin", ("spt-user", "spt-admin"), 2**40))
    with httpx.Client(cookies={SESSION_COOKIE: value}) as client:
        assert client.get(auth_server.base_url + "/account/me", headers=JSON).status_code == 401


def test_next_cannot_leave_the_site(browser: httpx.Client, auth_server: RunningServer) -> None:
    response = login(browser, auth_server, "bob", "/api/echo/jobs")
    assert response.headers["Location"] == "/api/echo/jobs"
    for bad in ("https://evil.example.org/", "//evil.example.org/x", "/\\evil.example.org"):
        start = browser.get(auth_server.base_url + "/account/login", params={"next": bad})
        sealed = set_cookie(start, "spt_login")["spt_login"].value
        state = SessionCodec(SESSION_SECRET, 3600).open_login(sealed)
        assert state is not None and state.next == "/", bad


def test_a_callback_without_its_login_or_with_another_state_is_400(auth_server: RunningServer) -> None:
    with httpx.Client() as client:
        response = client.get(auth_server.base_url + "/account/callback?code=x&state=y", headers=JSON)
        assert response.status_code == 400
        client.get(auth_server.base_url + "/account/login")
        response = client.get(auth_server.base_url + "/account/callback?code=x&state=y", headers=JSON)
        assert response.status_code == 400 and "state" in response.json()["message"]


def test_an_account_without_the_user_role_gets_no_session(browser: httpx.Client, auth_server: RunningServer) -> None:
    response = login(browser, auth_server, "carol", "/api/echo/jobs")
    assert response.status_code == 403
    assert SESSION_COOKIE not in browser.cookies


def test_a_session_is_confirmed_with_keycloak_and_ends_with_it(
    browser: httpx.Client, auth_server: RunningServer, keycloak: KeycloakStandIn
) -> None:
    from dataclasses import replace

    login(browser, auth_server, "bob", "/api/echo/jobs")
    codec = SessionCodec(SESSION_SECRET, 3600)
    session = codec.open_session(browser.cookies[SESSION_COOKIE])
    assert session is not None and session.checked > 0 and session.refresh_token
    due = codec.seal_session(replace(session, checked=0))  # due for its check with Keycloak
    me = auth_server.base_url + "/account/me"
    with httpx.Client(cookies={SESSION_COOKIE: due}) as client:
        response = client.get(me, headers=JSON)
        assert response.status_code == 200 and response.json()["username"] == "bob"
        renewed = codec.open_session(set_cookie(response, SESSION_COOKIE)[SESSION_COOKIE].value)
        assert renewed is not None and renewed.checked > 0
    # The Keycloak session ends elsewhere (another tab's logout, an admin): the next check ends this one.
    ended = httpx.post(f"{keycloak.issuer}/protocol/openid-connect/logout", data={
        "client_id": "spt-api", "client_secret": "spt-api-secret", "refresh_token": session.refresh_token})
    assert ended.status_code == 204
    with httpx.Client(cookies={SESSION_COOKIE: due}) as client:
        response = client.get(me, headers=JSON)
        assert response.status_code == 401
        assert 'spt_session=""' in response.headers["set-cookie"]
