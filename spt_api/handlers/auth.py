"""Who is asking: a request's principal from its bearer token, else its session cookie (``authenticate``).

Used by ``BaseHandler.prepare`` for every handler, and usable by any Tornado handler (the WebSocket's):
- ``Authorization: Bearer <token>``: checked by the :class:`~spt_api.auth.Authenticator`; no XSRF token needed
  (a browser never adds the header by itself).
- else the session cookie (``/account/login``): a POST, PUT, PATCH or DELETE must also carry Tornado's XSRF
  token (the ``_xsrf`` cookie's value in an ``X-XSRFToken`` header, an ``_xsrf`` query or form field).
- else nobody: a handler that needs a principal answers 401 with ``WWW-Authenticate: Bearer realm="spt"``,
  or, to a browser asking for a page (GET, ``Accept: text/html``), redirects to the login and back.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import tornado.web

from spt_api.auth import Authenticator, Identity, InvalidToken, MissingCredentials
from spt_api.auth.session import SESSION_COOKIE, Session
from spt_api.uws.errors import PermissionDeniedError
from spt_api.uws.principal import Principal

__all__ = ["XSRF_FIELD", "authenticate", "check_xsrf", "session_of"]

log = logging.getLogger(__name__)

XSRF_FIELD = "_xsrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_PATH = "/account/login"


def authenticator_of(handler: tornado.web.RequestHandler) -> Authenticator | None:
    authenticator: Authenticator | None = handler.application.settings.get("spt_authenticator")
    return authenticator


async def authenticate(handler: Any) -> None:
    """Set ``handler.current_principal`` and ``handler.auth_via`` (see the module's docstring)."""
    authenticator = authenticator_of(handler)
    if authenticator is None or not getattr(handler, "requires_auth", True):
        return
    principal = await principal_of(handler, authenticator)
    if principal is None:
        if handler.request.method in ("GET", "HEAD") and wants_page(handler):
            # Answered before Tornado read the (empty) body: it closes the connection after this answer,
            # so say so, or the browser reuses it and gets a reset (as BaseHandler.write_error does).
            handler.set_header("Connection", "close")
            handler.redirect(login_url(handler.request.uri or "/"))
            return
        raise MissingCredentials("authentication required: send a bearer token, or log in at /account/login")
    handler.current_principal = principal
    if handler.auth_via == "cookie" and handler.request.method not in SAFE_METHODS:
        _require_xsrf(handler)
    _remember_name(handler, authenticator, principal)


async def principal_of(handler: Any, authenticator: Authenticator) -> Principal | None:
    """The request's principal (``handler.auth_via`` says how), None when it brings no credentials;
    :class:`InvalidToken` (401), :class:`NotAuthorised` (403) or :class:`AuthUnavailable` (503)."""
    header = handler.request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise MissingCredentials(f"the {scheme[:20]!r} authorization scheme is not accepted: send a bearer token")
        if not token.strip():
            raise InvalidToken("the bearer token is empty")
        principal = await authenticator.principal_from_bearer(token.strip())
        handler.auth_via = "bearer"
        return principal
    session = session_of(handler, authenticator)
    if session is None:
        return None
    principal = authenticator.principal(Identity(session.sub, session.username, session.roles))
    handler.auth_via = "cookie"
    return principal


def session_of(handler: tornado.web.RequestHandler, authenticator: Authenticator) -> Session | None:
    """The request's login session; a cookie that is forged, altered or expired counts as none."""
    value = handler.get_cookie(SESSION_COOKIE)
    if not value:
        return None
    session = authenticator.sessions.open_session(value)
    if session is None:
        handler.clear_cookie(SESSION_COOKIE, path="/")
    return session


def wants_page(handler: tornado.web.RequestHandler) -> bool:
    """A browser navigating to a page (not a script, not the web app's fetch of JSON)."""
    accept = handler.request.headers.get("Accept", "")
    return "text/html" in accept.lower()


def login_url(next_url: str) -> str:
    return f"{LOGIN_PATH}?{urlencode({'next': next_url})}"


def check_xsrf(handler: tornado.web.RequestHandler, token: str | None) -> None:
    """Tornado's XSRF check (the ``_xsrf`` cookie against ``token``), answered with a 403 error document."""
    if not token:
        raise PermissionDeniedError(
            "a cookie-authenticated request must carry the XSRF token (the _xsrf cookie's value) "
            "in an X-XSRFToken header or an _xsrf field"
        )
    _, sent, _ = handler._decode_xsrf_token(token)
    _, expected, _ = handler._get_raw_xsrf_token()
    if not sent or not expected or not hmac.compare_digest(bytes(sent), bytes(expected)):
        raise PermissionDeniedError("the XSRF token does not match the _xsrf cookie")


def _require_xsrf(handler: Any) -> None:
    token = (
        handler.request.headers.get("X-Xsrftoken")
        or handler.request.headers.get("X-Csrftoken")
        or handler.get_query_argument(XSRF_FIELD, None)
    )
    if token or not hasattr(handler, "read_params"):
        check_xsrf(handler, token)
        return
    # The token may be a form field: check it once the body (read after prepare) is parsed.
    name = (handler.request.method or "get").lower()
    method: Callable[..., Any] = getattr(handler, name)

    async def checked(*args: Any, **kwargs: Any) -> None:
        await handler.read_params()
        check_xsrf(handler, handler._xsrf_field)
        result = method(*args, **kwargs)
        if inspect.isawaitable(result):
            await result

    setattr(handler, name, checked)


#: The login name last seen of each subject, in this process: a change renames the account's jobs.
_names: dict[str, str] = {}


def _remember_name(handler: Any, authenticator: Authenticator, principal: Principal) -> None:
    sub, name = principal.user_id, principal.username
    if sub is None or name is None or _names.get(sub) == name:
        return
    if len(_names) > 100_000:
        _names.clear()
    _names[sub] = name
    jobs = getattr(handler, "jobs", None)
    if jobs is None:
        return

    async def rename() -> None:
        try:
            changed = await jobs.call(jobs.store.rename_owner, principal)
        except Exception as exc:  # the database is down: try again with the next request
            _names.pop(sub, None)
            log.warning("could not show the new login name of %s on its jobs: %s", sub, exc)
            return
        if changed:
            log.info("%d jobs of %s now show the login name %r", changed, sub, name)

    task = asyncio.ensure_future(rename())
    _pending.add(task)
    task.add_done_callback(_pending.discard)


_pending: set[asyncio.Future[None]] = set()

