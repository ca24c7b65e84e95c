"""The WebSockets of live job updates: ``/api/events`` (all my jobs) and ``.../jobs/{id}/events`` (one job).

Thin: who is asking (the session, or a bearer token in the first message), then the messages of a
:class:`~spt_api.live.LiveFeed` written one at a time. Close codes (``CONTRACTS.md``): 4401
unauthenticated, 4403 forbidden, 4404 no such job (or another user's), 4408 client too slow,
1001 server shutting down, 1013 a backend is down (reconnect later).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Protocol

import tornado.web
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from spt_api.config import Settings
from spt_api.handlers.base import BaseHandler, Lifecycle
from spt_api.job_render import JobLinks
from spt_api.job_service import JobService
from spt_api.live import LiveFeed, LiveHub
from spt_api.uws.errors import NotFoundError, ServiceUnavailableError
from spt_api.uws.principal import Principal

__all__ = ["LIVE_ROUTES", "BearerAuthenticator", "LiveSocket"]

log = logging.getLogger(__name__)

#: How long a socket that must authenticate by message may stay silent before it is closed (4401).
AUTH_MESSAGE_TIMEOUT = 10.0
#: Largest message a client may send (only the auth message means anything): larger aborts the socket.
MAX_CLIENT_MESSAGE = 16 * 1024

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_SLOW = 4408
CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_INTERNAL_ERROR = 1011


class BearerAuthenticator(Protocol):
    """What the socket needs of the authenticator (``spt_api.auth``): a principal from an access token."""

    async def principal_from_bearer(self, token: str) -> Principal: ...


def auth_close_code(exc: Exception) -> int:
    """The close code of an authentication failure: 4403 for a valid user without the role, 1013 when
    the identity provider cannot be reached, else 4401 (the HTTP statuses 403, 503 and 401)."""
    status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
    name = type(exc).__name__
    if status == 403 or name == "NotAuthorised":
        return CLOSE_FORBIDDEN
    if status == 503 or name == "AuthUnavailable":
        return CLOSE_TRY_AGAIN_LATER
    return CLOSE_UNAUTHENTICATED


class LiveSocket(BaseHandler, WebSocketHandler):
    """One WebSocket: the current state of the job(s), then each change, until either side closes."""

    def initialize(  # type: ignore[override]
        self,
        jobs: JobService,
        settings: Settings,
        hub: LiveHub,
        lifecycle: Lifecycle | None = None,
        authenticator: BearerAuthenticator | None = None,
    ) -> None:
        super().initialize(jobs, settings, lifecycle)
        self.hub = hub
        self.authenticator = authenticator
        self._task: asyncio.Task[None] | None = None
        self._auth_message: asyncio.Future[str] | None = None

    # -- the handshake ----------------------------------------------------------------------------

    def check_origin(self, origin: str) -> bool:
        """A cross-site page may open a socket only from a trusted origin (``SPT_API_CORS_ORIGINS``): a
        browser sends the user's cookies with it, so any other site could read their jobs (CSWSH).
        Same-origin pages never get here (Tornado lets them through)."""
        return origin.strip().rstrip("/").lower() in self.settings_obj.cors_origin_names

    @property
    def max_message_size(self) -> int:
        return MAX_CLIENT_MESSAGE

    def open(self, service: str | None = None, job_id: str | None = None) -> None:
        if self.hub.stopping:
            self.close(CLOSE_GOING_AWAY, "server shutting down")
            return
        self.hub.opened(self)
        if self.authenticator is not None:
            # Ready before the first message can arrive (right after this returns), not when the feed starts.
            self._auth_message = asyncio.get_running_loop().create_future()
        # The feed runs beside Tornado's read loop, which must go on to read the auth message.
        self._task = asyncio.create_task(self._serve(service, job_id))

    def on_message(self, message: str | bytes) -> None:
        if self._auth_message is not None and not self._auth_message.done():
            self._auth_message.set_result(message if isinstance(message, str) else "")
        # Anything else a client sends is ignored: the socket is one-way.

    def on_close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.hub.closed(self)

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        if self._task is not None and code is not None and code != 1000 and self._task is not asyncio.current_task():
            self._task.cancel()  # nothing more to send; a close for the client is queued
        super().close(code, reason)

    # -- the feed ---------------------------------------------------------------------------------

    async def _serve(self, service: str | None, job_id: str | None) -> None:
        try:
            principal = await self._authenticate()
            if principal is None:
                return
            feed = LiveFeed(
                self.hub,
                principal,
                JobLinks(self.absolute(""), self.settings_obj.base_path),
                limit=self.settings_obj.ws_queue_size,
                on_overflow=self._too_slow,
                service=service,
                job_id=job_id,
            )
            with feed:
                async for message in feed.current():
                    await self.write_message(message)
                async for message in feed.changes():
                    await self.write_message(message)
            self.close(1000, "the job was deleted")
        except NotFoundError as exc:
            self.close(CLOSE_NOT_FOUND, exc.message[:120])
        except ServiceUnavailableError:
            self.close(CLOSE_TRY_AGAIN_LATER, "a backend is unavailable: reconnect later")
        except (WebSocketClosedError, StreamClosedError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("live updates failed")
            self.close(CLOSE_INTERNAL_ERROR, "internal error")

    def _too_slow(self) -> None:
        log.info("closing a WebSocket whose client does not keep up (%s)", self.request.path)
        self.close(CLOSE_TOO_SLOW, "client too slow: it did not read its messages")

    async def _authenticate(self) -> Principal | None:
        """Who is asking: as for every request (auth off: the anonymous user; a session cookie, which
        must come with the ``_xsrf`` query parameter), else the bearer token of the first message."""
        if self.authenticator is None:
            return self.principal()
        user = self.current_user
        if isinstance(user, Principal):
            if "Authorization" not in self.request.headers:
                # A session cookie: a page of another site could have opened this socket with it.
                try:
                    self.check_xsrf_cookie()
                except tornado.web.HTTPError:
                    self.close(CLOSE_FORBIDDEN, "missing or wrong _xsrf query parameter")
                    return None
            return user
        assert self._auth_message is not None
        try:
            raw = await asyncio.wait_for(self._auth_message, AUTH_MESSAGE_TIMEOUT)
        except TimeoutError:
            self.close(CLOSE_UNAUTHENTICATED, 'send {"type": "auth", "token": "<access token>"} first')
            return None
        token = _auth_token(raw)
        if token is None:
            self.close(CLOSE_UNAUTHENTICATED, 'the first message must be {"type": "auth", "token": "..."}')
            return None
        try:
            return await self.authenticator.principal_from_bearer(token)
        except Exception as exc:
            code = auth_close_code(exc)
            self.close(code, "authentication failed" if code != CLOSE_TRY_AGAIN_LATER else "auth unavailable")
            return None


def _auth_token(raw: str) -> str | None:
    try:
        data: Any = json.loads(raw)
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("type") == "auth" and isinstance(data.get("token"), str):
        token: str = data["token"]
        return token or None
    return None


LIVE_ROUTES: list[tuple[str, type[LiveSocket]]] = [
    (r"/events", LiveSocket),
    (r"/(?P<service>[a-z0-9_-]+)/jobs/(?P<job_id>[^/]+)/events", LiveSocket),
]
