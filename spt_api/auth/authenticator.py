"""Bearer tokens to principals: the signature against the realm's keys, then ``exp``, ``nbf``, ``iss``, ``aud``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import jwt

from spt_api.auth.errors import InvalidToken, NotAuthorised
from spt_api.auth.keys import ALLOWED_ALGORITHMS, RealmKeys, key_type
from spt_api.auth.oidc import LoginClient
from spt_api.auth.session import Session, SessionCodec
from spt_api.config import Settings
from spt_api.uws.principal import Principal

__all__ = ["Authenticator", "Identity"]

log = logging.getLogger(__name__)

#: Claims every access token must carry.
REQUIRED_CLAIMS = ["exp", "iss", "sub"]


class Identity:
    """Who a checked token (or a session) names: subject, login name and roles."""

    __slots__ = ("roles", "sub", "username")

    def __init__(self, sub: str, username: str | None, roles: Iterable[str]) -> None:
        self.sub = sub
        self.username = username
        self.roles = frozenset(roles)


class Authenticator:
    """Checks Keycloak access tokens and turns identities into principals (``Backends.authenticator``)."""

    def __init__(self, settings: Settings, keys: RealmKeys | None = None) -> None:
        self.settings = settings
        self.realm_url = f"{settings.keycloak_url.rstrip('/')}/realms/{settings.keycloak_realm}"
        self.keys = keys or RealmKeys(
            f"{self.realm_url}/.well-known/openid-configuration", min_refresh=settings.keycloak_jwks_min_refresh
        )
        self.audience = settings.effective_keycloak_audience
        self.user_role = settings.auth_user_role
        self.admin_role = settings.auth_admin_role
        self.sessions = SessionCodec(settings.session_secret.get_secret_value(), settings.session_lifetime)
        #: The API's client at Keycloak: the browser login's code exchange, refreshes and logouts.
        self.login_client = LoginClient(settings)
        self._rechecks: dict[str, asyncio.Future[Session | None]] = {}
        self._stop = asyncio.Event()
        self._start: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Fetch the realm's keys in the background: the server serves even while Keycloak is down."""
        self._stop = asyncio.Event()
        self._start = asyncio.create_task(self.keys.keep_trying(self._stop))

    async def stop(self) -> None:
        self._stop.set()
        if self._start is not None:
            with contextlib.suppress(Exception):
                await self._start

    async def principal_from_bearer(self, token: str) -> Principal:
        """The principal of a bearer token; :class:`InvalidToken` (401), :class:`NotAuthorised` (403) or
        :class:`AuthUnavailable` (503: no key to check it with)."""
        return self.principal(await self.identity_from_token(token))

    async def recheck(self, session: Session) -> Session | None:
        """The session confirmed by Keycloak (a refresh, with the roles of now), or None when Keycloak says
        it has ended (logout elsewhere, account disabled). Keycloak unreachable: the session stands as it
        is until the next check. Requests of the same session at once share one refresh."""
        key = session.refresh_token or ""
        pending = self._rechecks.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Session | None] = asyncio.get_running_loop().create_future()
        self._rechecks[key] = future
        try:
            result = await self._recheck(session)
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            del self._rechecks[key]

    async def _recheck(self, session: Session) -> Session | None:
        now = int(time.time())
        if not session.refresh_token:
            return None
        loop = asyncio.get_running_loop()
        try:
            tokens = await loop.run_in_executor(None, self.login_client.refresh, session.refresh_token)
        except Exception as exc:
            if getattr(exc, "response_code", None) in (400, 401):
                log.info("the Keycloak session of %s has ended: %s", session.sub, exc)
                return None
            log.warning("could not confirm the session of %s with Keycloak (kept): %s", session.sub, exc)
            return replace(session, checked=now)
        try:
            identity = await self.identity_from_token(str(tokens.get("access_token", "")))
        except InvalidToken as exc:
            log.warning("the refreshed token of %s is not accepted: %s", session.sub, exc)
            return None
        if identity.sub != session.sub:
            return None
        return Session(identity.sub, identity.username, tuple(sorted(identity.roles)), session.expires,
                       tokens.get("refresh_token") or session.refresh_token, now)

    def principal(self, identity: Identity) -> Principal:
        """The principal of an identity: it needs the user role (else 403); the admin role sees every job."""
        if self.user_role and self.user_role not in identity.roles and self.admin_role not in identity.roles:
            raise NotAuthorised(f"the user {identity.username or identity.sub!r} lacks the role {self.user_role!r}")
        return Principal.user(
            identity.sub, identity.roles, admin=self.admin_role in identity.roles, username=identity.username
        )

    async def identity_from_token(self, token: str, *, audience: str | None = None, nonce: str | None = None,
                                  token_type: str | None = "Bearer") -> Identity:
        claims = await self.verify(token, audience=audience or self.audience, token_type=token_type)
        if nonce is not None and claims.get("nonce") != nonce:
            raise InvalidToken("the ID token's nonce does not match the login")
        return self.identity(claims)

    def identity(self, claims: Mapping[str, Any]) -> Identity:
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise InvalidToken("the token has no subject")
        username = claims.get("preferred_username")
        return Identity(sub, username if isinstance(username, str) else None, _roles(claims, self.audience))

    async def verify(self, token: str, *, audience: str, token_type: str | None = "Bearer") -> dict[str, Any]:
        """The claims of a token signed by the realm, current and meant for ``audience``; else InvalidToken."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("the bearer token is not a JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise InvalidToken(f"the token's algorithm {str(algorithm)[:20]!r} is not accepted")
        kid = header.get("kid")
        key = await self.keys.key(kid if isinstance(kid, str) else None)
        if key.key_type != key_type(algorithm):
            raise InvalidToken("the token's algorithm does not fit the realm's key")
        issuer = (await self.keys.discovery())["issuer"]
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[algorithm],
                audience=audience,
                issuer=issuer,
                leeway=self.settings.auth_leeway,
                options={"require": REQUIRED_CLAIMS, "verify_iat": False},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("the token is not meant for this API (audience)") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("the token was issued by another realm") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"the token is invalid: {exc}") from None
        kind = claims.get("typ")
        if token_type is not None and kind is not None and kind != token_type:
            raise InvalidToken(f"a {kind!r} token is not an access token")
        return claims


def _roles(claims: Mapping[str, Any], client_id: str) -> set[str]:
    """Realm roles (``realm_access.roles``) and the roles of this API's client (``resource_access``)."""
    roles: set[str] = set()
    realm_access = claims.get("realm_access")
    if isinstance(realm_access, dict):
        roles.update(r for r in realm_access.get("roles", []) if isinstance(r, str))
    resource_access = claims.get("resource_access")
    if isinstance(resource_access, dict):
        client = resource_access.get(client_id)
        if isinstance(client, dict):
            roles.update(r for r in client.get("roles", []) if isinstance(r, str))
    return roles
