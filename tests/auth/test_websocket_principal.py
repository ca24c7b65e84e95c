"""``websocket_principal``: what the WebSocket handlers use (bearer header, or session cookie + ``?_xsrf=``)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import tornado.web

from spt_api.auth.session import SESSION_COOKIE, Session, SessionCodec
from spt_api.handlers.auth import websocket_principal
from spt_api.testing import ServerThread, start_server_thread
from spt_api.uws.errors import RequestError
from tests.auth.conftest import SESSION_SECRET, auth_settings
from tests.auth.standin import USERS, KeycloakStandIn


class Probe(tornado.web.RequestHandler):
    async def get(self) -> None:
        try:
            principal = await websocket_principal(self)
        except RequestError as exc:
            self.set_status(exc.status)
            self.finish({"error": exc.error})
            return
        self.finish(json.dumps(None if principal is None else principal.username))


@pytest.fixture(scope="module")
def probe_server(keycloak: KeycloakStandIn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    server = start_server_thread(auth_settings(tmp_path_factory.mktemp("ws"), keycloak.url), [("/probe", Probe)])
    yield server
    server.stop()


def test_cookie_needs_the_xsrf_query_bearer_does_not(probe_server: ServerThread, keycloak: KeycloakStandIn) -> None:
    url = probe_server.base_url + "/probe"
    session = Session(USERS["alice"], "alice", ("spt-user",), 2**40, "rt", checked=2**40)
    cookies = {SESSION_COOKIE: SessionCodec(SESSION_SECRET, 3600).seal_session(session), "_xsrf": "2|aa|bb|cc"}
    with httpx.Client(cookies=cookies) as client:
        assert client.get(url).status_code == 403
        token = client.get(probe_server.base_url + "/account/me").cookies.get("_xsrf") or ""
    with httpx.Client(cookies={**cookies, "_xsrf": token}) as client:
        assert client.get(url, params={"_xsrf": token}).json() == "alice"
    with httpx.Client() as client:
        assert client.get(url).json() is None  # nothing yet: the client may send a bearer token as a message
        bearer = {"Authorization": f"Bearer {keycloak.access_token('bob')}"}
        assert client.get(url, headers=bearer).json() == "bob"
        assert client.get(url, headers={"Authorization": "Bearer x.y.z"}).status_code == 401
