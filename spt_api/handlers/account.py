"""The browser login: ``/account/login``, ``/account/callback``, ``/account/logout`` and ``/account/me``.

The authorization-code flow with PKCE (S256), ``state`` and ``nonce``, run by the API as Keycloak's
confidential client. What the login needs between the two legs (state, nonce, verifier, the page to
return to) travels in a short-lived encrypted cookie; the session it ends with is an encrypted cookie too
(``spt_api.auth.session``): ``HttpOnly``, ``SameSite=Lax``, and ``Secure`` unless the API is reached over
plain HTTP on the machine itself (127.0.0.1, localhost).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any

from spt_api.auth import Authenticator, AuthError, MissingCredentials, NotAuthorised
from spt_api.auth.oidc import LoginClient, pkce_pair
from spt_api.auth.session import LOGIN_COOKIE, LOGIN_LIFETIME, SESSION_COOKIE, LoginState, Session
from spt_api.handlers.auth import cookie_flags, principal_of, session_of, set_session_cookie
from spt_api.handlers.base import BaseHandler
from spt_api.uws.errors import BadRequestError, ServiceUnavailableError

__all__ = ["ACCOUNT_ROUTES"]

log = logging.getLogger(__name__)

def safe_next(value: str | None) -> str:
    """A page of this site to return to after the login: a local path only (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or "\n" in value:
        return "/"
    return value


class AccountHandler(BaseHandler):
    requires_auth = False

    @property
    def auth(self) -> Authenticator:
        authenticator = self.authenticator
        if authenticator is None:
            raise BadRequestError("authentication is off on this server (SPT_API_AUTH_ENABLED=false)")
        return authenticator

    @property
    def login_client(self) -> LoginClient:
        return self.auth.login_client

    def cookie_flags(self) -> dict[str, Any]:
        return cookie_flags(self)

    def callback_url(self) -> str:
        return self.absolute("/account/callback")

    async def off_loop(self, func: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, func, *args)


class LoginHandler(AccountHandler):
    async def get(self) -> None:
        auth = self.auth
        try:
            endpoint = (await auth.keys.discovery())["authorization_endpoint"]
        except KeyError:
            raise ServiceUnavailableError("the identity provider names no authorization endpoint") from None
        verifier, challenge = pkce_pair()
        login = LoginState(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            verifier=verifier,
            next=safe_next(self.get_query_argument("next", None)),
            redirect_uri=self.callback_url(),
        )
        self.set_cookie(
            LOGIN_COOKIE, auth.sessions.seal_login(login), expires_days=None, max_age=LOGIN_LIFETIME,
            **self.cookie_flags()
        )
        self.redirect(
            self.login_client.authorization_url(endpoint, login.redirect_uri, login.state, login.nonce, challenge)
        )


class CallbackHandler(AccountHandler):
    async def get(self) -> None:
        auth = self.auth
        cookie = self.get_cookie(LOGIN_COOKIE)
        login = auth.sessions.open_login(cookie) if cookie else None
        if login is None:
            raise BadRequestError("no login in progress, or it took too long: start again at /account/login")
        state = self.get_query_argument("state", None)
        if state is None or not secrets.compare_digest(state, login.state):
            raise BadRequestError("the login's state does not match: start again at /account/login")
        self.clear_cookie(LOGIN_COOKIE, path="/")
        error = self.get_query_argument("error", None)
        if error is not None:
            raise NotAuthorised(f"the identity provider refused the login: {error[:100]}")
        code = self.get_query_argument("code", None)
        if not code:
            raise BadRequestError("the identity provider sent no authorization code")
        try:
            tokens = await self.off_loop(self.login_client.exchange_code, code, login.redirect_uri, login.verifier)
        except Exception as exc:
            log.warning("code exchange failed: %s", exc)
            raise BadRequestError("the login could not be completed: start again at /account/login") from None
        try:
            # The ID token proves this login (its nonce); the access token carries the roles the API checks.
            await auth.identity_from_token(
                str(tokens.get("id_token", "")), audience=auth.settings.keycloak_client_id, nonce=login.nonce,
                token_type="ID",
            )
            identity = await auth.identity_from_token(str(tokens.get("access_token", "")))
        except AuthError as exc:
            raise BadRequestError(f"the login could not be completed: {exc.message}") from None
        principal = auth.principal(identity)  # 403 for an account without the user role
        session = Session(
            sub=identity.sub,
            username=identity.username,
            roles=tuple(sorted(identity.roles)),
            expires=int(time.time()) + auth.settings.session_lifetime,
            refresh_token=tokens.get("refresh_token"),
            checked=int(time.time()),
        )
        set_session_cookie(self, auth, session)
        log.info("login of %s (%s)", principal.username, principal.user_id)
        self.xsrf_token  # noqa: B018 - sets the _xsrf cookie the web app sends back
        self.redirect(login.next)


class LogoutHandler(AccountHandler):
    async def get(self) -> None:
        await self.logout()

    async def post(self) -> None:
        await self.logout()

    async def logout(self) -> None:
        auth = self.auth
        session = session_of(self, auth)
        self.clear_cookie(SESSION_COOKIE, path="/")
        if session is not None and session.refresh_token:
            try:
                await self.off_loop(self.login_client.end_session, session.refresh_token)
            except Exception as exc:  # the session ends here regardless
                log.warning("ending the Keycloak session of %s failed: %s", session.sub, exc)
        if self.wants_json:
            self.write_json({"auth": True, "loggedOut": True})
        else:
            self.redirect(safe_next(self.get_query_argument("next", None)))


class MeHandler(BaseHandler):
    """Who is logged in (the web app asks first): 401 when nobody is, with auth on."""

    @property
    def wants_json(self) -> bool:
        return True

    async def prepare(self) -> None:
        self._check_request()
        auth = self.authenticator
        if auth is None:
            return
        principal = await principal_of(self, auth)
        if principal is None:
            raise MissingCredentials("not logged in: log in at /account/login")
        self.current_principal = principal

    def get(self) -> None:
        if self.authenticator is None:
            self.write_json({"auth": False, "username": None, "roles": [], "admin": False})
            return
        principal = self.principal()
        self.xsrf_token  # noqa: B018 - sets the _xsrf cookie the web app sends back
        self.write_json({
            "auth": True,
            "username": principal.username,
            "sub": principal.user_id,
            "roles": sorted(principal.roles),
            "admin": principal.admin,
        })


ACCOUNT_ROUTES: list[tuple[str, type[BaseHandler]]] = [
    (r"/account/login", LoginHandler),
    (r"/account/callback", CallbackHandler),
    (r"/account/logout", LogoutHandler),
    (r"/account/me", MeHandler),
]
