"""The live-update WebSockets and the pages with authentication on, against the OIDC stand-in: a bearer
token as the first message (or header), a login session with the ``_xsrf`` query parameter, and
another user's job (4404)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import spt_api.handlers.live
from tests.api.uws_helpers import job_id_of
from tests.auth.conftest import bearer
from tests.auth.standin import KeycloakStandIn
from tests.auth.test_login import PAGE, login
from tests.live.ws_client import connect, events_url, next_message, read_until
from tests.support.server import RunningServer

pytestmark = pytest.mark.asyncio(loop_scope="session")


def create(server: RunningServer, token: str, run: bool = False, **params: str) -> str:
    data = {**params, **({"PHASE": "RUN"} if run else {})}
    with server.client() as http:
        response = http.post(server.jobs_url("echo"), data=data, headers=bearer(token))
    assert response.status_code == 303, response.text
    return response.headers["Location"]


async def closed_with(conn: Any) -> tuple[int | None, str | None]:
    assert await next_message(conn) is None
    return conn.close_code, conn.close_reason


async def test_a_token_as_first_message_opens_my_jobs_and_not_anothers(
    auth_server: RunningServer, keycloak: KeycloakStandIn
) -> None:
    alice, bob = keycloak.access_token("alice"), keycloak.access_token("bob")
    mine, theirs = create(auth_server, alice, message="alice's"), create(auth_server, bob, message="bob's")

    conn = await connect(events_url(auth_server, mine))
    await conn.write_message(f'{{"type": "auth", "token": "{alice}"}}')
    first = await next_message(conn)
    assert first is not None and first["jobId"] == job_id_of(mine) and first["job"]["ownerId"] == "alice"
    conn.close()

    conn = await connect(events_url(auth_server, theirs))
    await conn.write_message(f'{{"type": "auth", "token": "{alice}"}}')
    assert await closed_with(conn) == (4404, f"no job {job_id_of(theirs)!r}")

    # All of alice's jobs: bob's never appear, not even as they change.
    everything = await connect(events_url(auth_server))
    await everything.write_message(f'{{"type": "auth", "token": "{alice}"}}')
    current = await read_until(everything, lambda m: m["jobId"] == job_id_of(mine))
    assert job_id_of(theirs) not in {m["jobId"] for m in current}
    with auth_server.client() as http:
        assert http.post(f"{theirs}/phase", data={"PHASE": "RUN"}, headers=bearer(bob)).status_code == 303
        assert http.post(f"{mine}/phase", data={"PHASE": "RUN"}, headers=bearer(alice)).status_code == 303
    seen = await read_until(everything, lambda m: m["jobId"] == job_id_of(mine) and m["phase"] == "COMPLETED")
    assert job_id_of(theirs) not in {m["jobId"] for m in seen}
    everything.close()


async def test_a_bearer_header_needs_no_first_message(auth_server: RunningServer, keycloak: KeycloakStandIn) -> None:
    token = keycloak.access_token("bob")
    job = create(auth_server, token, message="header")
    conn = await connect(events_url(auth_server, job), Authorization=f"Bearer {token}")
    assert (await next_message(conn) or {})["jobId"] == job_id_of(job)
    conn.close()


def no_role_token(keycloak: KeycloakStandIn) -> str:
    return keycloak.mint(keycloak.claims("carol", realm_access={"roles": []}))


def expired_token(keycloak: KeycloakStandIn) -> str:
    return keycloak.mint(keycloak.claims("alice", exp=1, iat=0))


@pytest.mark.parametrize(
    ("token_of", "code"),
    [
        (expired_token, 4401),
        (lambda keycloak: keycloak.access_token("alice") + "x", 4401),  # signature broken
        (no_role_token, 4403),
    ],
)
async def test_a_bad_token_closes_the_socket(
    auth_server: RunningServer, keycloak: KeycloakStandIn, token_of: Any, code: int
) -> None:
    conn = await connect(events_url(auth_server))
    await conn.write_message(f'{{"type": "auth", "token": "{token_of(keycloak)}"}}')
    assert (await closed_with(conn))[0] == code
    # The same token as a header: the same answer.
    conn = await connect(events_url(auth_server), Authorization=f"Bearer {token_of(keycloak)}")
    assert (await closed_with(conn))[0] == code


async def test_no_credentials_at_all_is_4401(auth_server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spt_api.handlers.live, "AUTH_MESSAGE_TIMEOUT", 0.5)
    conn = await connect(events_url(auth_server))
    assert (await closed_with(conn))[0] == 4401


@pytest.fixture
def browser(auth_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        response = login(client, auth_server, "alice", "/api/echo/jobs")
        assert response.status_code == 302
        yield client


def cookies(client: httpx.Client) -> str:
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


async def test_a_login_session_opens_a_socket_with_the_xsrf_token_only(
    auth_server: RunningServer, browser: httpx.Client, keycloak: KeycloakStandIn
) -> None:
    job = create(auth_server, keycloak.access_token("alice"), message="in the browser")
    # The job page sets the _xsrf cookie its script sends back.
    page = browser.get(job, headers=PAGE)
    assert page.status_code == 200 and 'name="_xsrf"' in page.text
    xsrf = browser.cookies.get("_xsrf")
    assert xsrf
    url = events_url(auth_server, job)
    conn = await connect(f"{url}?_xsrf={xsrf}", Cookie=cookies(browser))
    assert (await next_message(conn) or {})["job"]["ownerId"] == "alice"
    conn.close()
    # The session cookie alone (what any site's page could make a browser send): refused.
    conn = await connect(url, Cookie=cookies(browser))
    assert (await closed_with(conn))[0] == 4403
    conn = await connect(f"{url}?_xsrf=2|00|11|22", Cookie=cookies(browser))
    assert (await closed_with(conn))[0] == 4403


async def test_the_pages_run_a_job_with_the_xsrf_field_and_no_javascript(
    auth_server: RunningServer, browser: httpx.Client, keycloak: KeycloakStandIn
) -> None:
    job = create(auth_server, keycloak.access_token("alice"), message="run from the page")
    page = browser.get(job, headers=PAGE).text
    xsrf = browser.cookies.get("_xsrf")
    assert 'type="hidden" name="_xsrf"' in page
    # What the Run button posts: PHASE=RUN and the hidden _xsrf field, from the server's own origin.
    fields = {"PHASE": "RUN", "_xsrf": xsrf or ""}
    posted = browser.post(f"{job}/phase", data=fields, headers={**PAGE, "Origin": auth_server.base_url})
    assert posted.status_code == 303, posted.text
    # Without the field, the same post is refused.
    other = create(auth_server, keycloak.access_token("alice"), message="not run")
    refused = browser.post(f"{other}/phase", data={"PHASE": "RUN"}, headers={**PAGE, "Origin": auth_server.base_url})
    assert refused.status_code == 403
    # Another user's job page is a 404, as everywhere.
    theirs = create(auth_server, keycloak.access_token("bob"), message="bob's")
    assert browser.get(theirs, headers=PAGE).status_code == 404
