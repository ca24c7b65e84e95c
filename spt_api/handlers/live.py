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
from typing import Any

from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from spt_api.auth import AuthUnavailable
from spt_api.config import Settings
from spt_api.handlers.auth import websocket_principal
from spt_api.handlers.base import BaseHandler, Lifecycle
from spt_api.job_render import JobLinks
from spt_api.job_service import JobService
from spt_api.live import LiveFeed, LiveHub
from spt_api.uws.errors import NotFoundError, PermissionDeniedError, RequestError, ServiceUnavailableError
from spt_api.uws.principal import Principal

__all__ = ["LIVE_ROUTES", "LiveSocket", "auth_close_code"]

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


def auth_close_code(exc: Exception) -> int:
    """The close code of an authentication failure, as its HTTP status would say: 1013 (503) when the
    identity provider cannot be reached, 4403 (403) for a valid user without the role or a missing XSRF
    token, else 4401 (401: no credentials, a bad token)."""
    if isinstance(exc, AuthUnavailable):
        return CLOSE_TRY_AGAIN_LATER
    if isinstance(exc, PermissionDeniedError):
        return CLOSE_FORBIDDEN
    return CLOSE_UNAUTHENTICATED


class LiveSocket(BaseHandler, WebSocketHandler):
    """One WebSocket: the current state of the job(s), then each change, until either side closes."""

    #: The socket settles who is asking itself, not with BaseHandler's 401 or login redirect: a failure
    #: is said by a close code after the upgrade (a browser never sees the status of a refused
    #: handshake), and a token may still come as the first message.
    requires_auth = False

    def initialize(  # type: ignore[override]
        self, jobs: JobService, settings: Settings, hub: LiveHub, lifecycle: Lifecycle | None = None
    ) -> None:
        super().initialize(jobs, settings, lifecycle)
        self.hub = hub
        self._task: asyncio.Task[None] | None = None
        self._auth_message: asyncio.Future[str] | None = None
        self._auth_error: RequestError | None = None

    async def prepare(self) -> None:
        await super().prepare()  # the request's checks (host, sizes)
        if self.authenticator is None:
            return
        # The bearer header, or the session cookie with the ?_xsrf= token (the session cookie comes with
        # any socket a page of any site opens; only this origin's pages can read the _xsrf cookie), read
        # now: a bad session cookie is cleared, and no header can be set once the socket is open.
        try:
            self.current_principal = await websocket_principal(self)
        except RequestError as exc:
            self.current_principal = None
            self._auth_error = exc

    # -- the handshake ----------------------------------------------------------------------------

    def check_origin(self, origin: str) -> bool:
        """A cross-site page may open a socket only from a trusted origin (``SPT_API_CORS_ORIGINS``): a
        browser sends the user's cookies with it, so any other site could read their jobs (CSWSH).
        Same-origin pages never get here (Tornado lets them through)."""
        return self.settings_obj.trusts_origin(origin)

    @property
    def max_message_size(self) -> int:
        return MAX_CLIENT_MESSAGE

    def open(self, service: str | None = None, job_id: str | None = None) -> None:
        if self.hub.stopping:
            self.close(CLOSE_GOING_AWAY, "server shutting down")
            return
        self.hub.opened(self)
        if self.authenticator is not None and self.current_principal is None and self._auth_error is None:
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
            self.close(CLOSE_NOT_FOUND, _reason(exc))
        except ServiceUnavailableError:
            self.close(CLOSE_TRY_AGAIN_LATER, "a backend is unavailable: reconnect later")
        except (WebSocketClosedError, StreamClosedError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("live updates failed")
            self.close(CLOSE_INTERNAL_ERROR, "internal error")

    def _too_slow(self) -> None:
        if self.hub.on_too_slow is not None:
            self.hub.on_too_slow()
        log.info("closing a WebSocket whose client does not keep up (%s)", self.request.path)
        self.close(CLOSE_TOO_SLOW, "client too slow: it did not read its messages")

    async def _authenticate(self) -> Principal | None:
        """Who is asking: the anonymous user while auth is off; else as :meth:`prepare` found (a bearer
        header, or a session cookie with the ``_xsrf`` query parameter), else the bearer token of the
        first message. None once the socket is closed for want of one."""
        authenticator = self.authenticator
        if authenticator is None:
            return self.principal()
        if self._auth_error is not None:
            self.close(auth_close_code(self._auth_error), _reason(self._auth_error))
            return None
        if self.current_principal is not None:
            return self.current_principal
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
            return await authenticator.principal_from_bearer(token)
        except RequestError as exc:
            self.close(auth_close_code(exc), _reason(exc))
            return None


def _reason(exc: RequestError) -> str:
    """A close frame's reason: at most 123 bytes of UTF-8 (RFC 6455 §5.5)."""
    return exc.message.encode()[:120].decode(errors="ignore")


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
