"""The browser's login session: an encrypted, authenticated cookie (Fernet: AES-128-CBC + HMAC-SHA256).

The cookie holds who logged in (subject, login name, roles), when the session ends, and the refresh
token that ends the Keycloak session at logout, all encrypted with a key derived from
``SPT_API_SESSION_SECRET``: the browser (and anyone reading its cookies) sees no token in clear, and a
cookie altered, forged or older than ``SPT_API_SESSION_LIFETIME`` is ignored. The short-lived login
cookie (state, nonce, PKCE verifier, the page to return to) is sealed the same way, with its own key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

__all__ = ["LoginState", "Sealer", "Session", "SessionCodec"]

#: Cookie names: the session, and the login in progress (between /account/login and /account/callback).
SESSION_COOKIE = "spt_session"
LOGIN_COOKIE = "spt_login"
#: Longest a login may take at Keycloak (seconds).
LOGIN_LIFETIME = 600


@dataclass(frozen=True)
class Session:
    sub: str
    username: str | None
    roles: tuple[str, ...]
    #: Unix time the session ends.
    expires: int
    #: Ends the Keycloak session at logout; never sent to the browser in clear.
    refresh_token: str | None = None
    #: Unix time Keycloak last confirmed the session (the login, or a refresh).
    checked: int = 0


@dataclass(frozen=True)
class LoginState:
    state: str
    nonce: str
    verifier: str
    next: str
    redirect_uri: str


class Sealer:
    """Seals and opens JSON values with a key derived from the session secret and a purpose."""

    def __init__(self, secret: str, purpose: str) -> None:
        digest = hashlib.sha256(f"spt-api/{purpose}/v1\0{secret}".encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, value: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(value, separators=(",", ":")).encode()).decode("ascii")

    def open(self, text: str, ttl: int) -> dict[str, Any] | None:
        """The value, or None when ``text`` is not one this key sealed, or older than ``ttl`` seconds."""
        try:
            data = json.loads(self._fernet.decrypt(text.encode("ascii"), ttl=ttl))
        except (InvalidToken, ValueError, UnicodeError):
            return None
        return data if isinstance(data, dict) else None


class SessionCodec:
    """Session and login cookies' values, sealed with ``SPT_API_SESSION_SECRET``."""

    def __init__(self, secret: str, lifetime: int) -> None:
        self.lifetime = lifetime
        self._sessions = Sealer(secret, "session")
        self._logins = Sealer(secret, "login")

    def seal_session(self, session: Session) -> str:
        return self._sessions.seal(
            {"s": session.sub, "u": session.username, "r": list(session.roles), "e": session.expires,
             "t": session.refresh_token, "c": session.checked}
        )

    def open_session(self, text: str) -> Session | None:
        data = self._sessions.open(text, self.lifetime)
        if data is None:
            return None
        try:
            session = Session(str(data["s"]), data.get("u"), tuple(str(r) for r in data["r"]), int(data["e"]),
                              data.get("t"), int(data.get("c", 0)))
        except (KeyError, TypeError, ValueError):
            return None
        return session if session.expires > time.time() else None

    def seal_login(self, login: LoginState) -> str:
        return self._logins.seal(
            {"s": login.state, "n": login.nonce, "v": login.verifier, "x": login.next, "r": login.redirect_uri}
        )

    def open_login(self, text: str) -> LoginState | None:
        data = self._logins.open(text, LOGIN_LIFETIME)
        if data is None:
            return None
        try:
            return LoginState(str(data["s"]), str(data["n"]), str(data["v"]), str(data["x"]), str(data["r"]))
        except KeyError:
            return None
