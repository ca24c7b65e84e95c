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
import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import tornado.web
from tornado import httputil

from spt_api.auth import Authenticator, Identity, InvalidToken, MissingCredentials
from spt_api.auth.session import SESSION_COOKIE, Session
from spt_api.uws.errors import PermissionDeniedError
from spt_api.uws.principal import Principal

__all__ = [
    "XSRF_FIELD",
    "authenticate",
    "check_xsrf",
    "cookie_flags",
    "principal_of",
    "session_of",
    "set_session_cookie",
    "websocket_principal",
]

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
    if handler.request.method == "OPTIONS":
        return  # a CORS preflight carries no credentials; the request it announces will
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
    if time.time() - session.checked >= authenticator.settings.session_recheck:
        session = await authenticator.recheck(session)
        if session is None:
            handler.clear_cookie(SESSION_COOKIE, path="/")
            return None
        set_session_cookie(handler, authenticator, session)
    principal = authenticator.principal(Identity(session.sub, session.username, session.roles))
    handler.auth_via = "cookie"
    return principal


async def websocket_principal(handler: Any) -> Principal | None:
    """For a WebSocket upgrade (a GET a browser cannot add headers to): the principal of its bearer header or
    of its session cookie, which must then come with the XSRF token as ``?_xsrf=`` (403 otherwise, as a
    cross-site page could open the socket with the user's cookie); None when it brings neither, and the
    client may then send a bearer token as its first message (``Authenticator.principal_from_bearer``).
    Auth off: the anonymous principal."""
    authenticator = authenticator_of(handler)
    if authenticator is None:
        from spt_api.uws.principal import ANONYMOUS

        return ANONYMOUS
    principal = await principal_of(handler, authenticator)
    if principal is not None and getattr(handler, "auth_via", None) == "cookie":
        check_xsrf(handler, handler.get_query_argument(XSRF_FIELD, None))
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


LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def cookie_flags(handler: tornado.web.RequestHandler) -> dict[str, Any]:
    """``HttpOnly``, ``SameSite=Lax``, and ``Secure`` unless the API is reached over plain HTTP on this machine."""
    local_http = handler.request.protocol == "http" and handler.request.host_name.lower() in LOCAL_HOSTS
    return {"httponly": True, "samesite": "Lax", "secure": not local_http, "path": "/"}


def set_session_cookie(handler: tornado.web.RequestHandler, authenticator: Authenticator, session: Session) -> None:
    lifetime = max(int(session.expires - time.time()), 0)
    handler.set_cookie(
        SESSION_COOKIE, authenticator.sessions.seal_session(session), expires_days=None, max_age=lifetime,
        **cookie_flags(handler),
    )


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
    if token or not hasattr(handler, "_body_chunks"):
        check_xsrf(handler, token)
        return
    # The token may be a form field: check it once the body (read after prepare) is parsed.
    name = (handler.request.method or "get").lower()
    method: Callable[..., Any] = getattr(handler, name)

    async def checked(*args: Any, **kwargs: Any) -> None:
        body = b"".join(handler._body_chunks)
        content_type = handler.request.headers.get("Content-Type", "")
        if len(body) > 64 * 1024:
            field = await asyncio.get_running_loop().run_in_executor(None, xsrf_field_of, body, content_type)
        else:
            field = xsrf_field_of(body, content_type)
        check_xsrf(handler, field)
        result = method(*args, **kwargs)
        if inspect.isawaitable(result):
            await result

    setattr(handler, name, checked)


def xsrf_field_of(body: bytes, content_type: str) -> str | None:
    """The ``_xsrf`` field of a form, multipart or JSON body (parsed apart from the parameters, which the
    handler parses its own way later), or None."""
    media = content_type.split(";")[0].strip().lower()
    try:
        if media == "application/json":
            data = json.loads(body or b"{}")
            value = data.get(XSRF_FIELD) if isinstance(data, dict) else None
            return value if isinstance(value, str) else None
        if media == "multipart/form-data":
            arguments: dict[str, list[bytes]] = {}
            httputil.parse_body_arguments(content_type, body, arguments, {}, None)
            values = arguments.get(XSRF_FIELD)
            return values[0].decode("ascii") if values else None
        if media in ("application/x-www-form-urlencoded", ""):
            for name, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
                if name == XSRF_FIELD:
                    return value
    except (ValueError, UnicodeDecodeError, httputil.HTTPInputError):
        return None
    return None


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

