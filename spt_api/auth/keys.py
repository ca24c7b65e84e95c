"""The realm's discovery document and signing keys (JWKS), fetched without blocking the event loop, cached.

Keys are fetched once at start (retried in the background while Keycloak is down), kept, and fetched
again when a token names a key id (``kid``) not cached (a key rotation), at most once per
``min_refresh`` seconds so that tokens with made-up key ids cannot make the API hammer Keycloak.
While no key has ever been fetched, a token cannot be checked: :class:`AuthUnavailable` (503).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import jwt
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from spt_api.auth.errors import AuthUnavailable, InvalidToken

__all__ = ["ALLOWED_ALGORITHMS", "RealmKeys"]

log = logging.getLogger(__name__)

#: Asymmetric signatures only: never ``none``, never an HMAC (HS256 "signed" with the public key).
ALLOWED_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})
_KEY_TYPE = {"RS": "RSA", "PS": "RSA", "ES": "EC"}
#: A failed fetch is not retried for a request sooner than this (seconds): a Keycloak outage
#: must not turn every request into a connection attempt.
FAILURE_BACKOFF = 1.0
#: Keys older than this are fetched again in passing (a key Keycloak removed stops being trusted).
MAX_AGE = 3600.0
FETCH_TIMEOUT = 5.0


def key_type(algorithm: str) -> str:
    return _KEY_TYPE[algorithm[:2]]


class RealmKeys:
    """The discovery document and the signature keys of one Keycloak realm."""

    def __init__(self, discovery_url: str, *, min_refresh: float = 10.0) -> None:
        self.discovery_url = discovery_url
        self.min_refresh = min_refresh
        self._discovery: dict[str, Any] | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._failed_at = float("-inf")
        self._lock: asyncio.Lock | None = None

    @property
    def ready(self) -> bool:
        return bool(self._keys)

    async def discovery(self) -> dict[str, Any]:
        """The realm's OpenID configuration (issuer, endpoints); :class:`AuthUnavailable` while unreachable."""
        if self._discovery is None:
            await self.refresh(reason="discovery")
        assert self._discovery is not None
        return self._discovery

    async def key(self, kid: str | None) -> jwt.PyJWK:
        """The signature key ``kid``: cached, else fetched again once (rate-limited); :class:`InvalidToken`
        when the realm has no such key, :class:`AuthUnavailable` when no key can be had at all."""
        if kid is not None and kid in self._keys:
            if time.monotonic() - self._fetched_at > MAX_AGE:
                await self._refresh_quietly()
            if kid in self._keys:
                return self._keys[kid]
        if not self._keys:
            await self.refresh(reason="no keys cached")
        elif time.monotonic() - self._fetched_at >= self.min_refresh:
            await self._refresh_quietly(reason=f"unknown key id {kid!r}")
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        if kid is None or kid not in self._keys:
            raise InvalidToken("the token is signed with a key the realm does not have")
        return self._keys[kid]

    async def _refresh_quietly(self, reason: str = "keys are old") -> None:
        try:
            await self.refresh(reason=reason)
        except AuthUnavailable as exc:
            log.warning("keeping the cached realm keys: %s", exc)

    async def refresh(self, *, reason: str) -> None:
        """Fetch the discovery document (once) and the JWKS; one fetch at a time, others wait for it."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        started = time.monotonic()
        async with self._lock:
            if self._fetched_at >= started and self._keys:
                return  # another request fetched while this one waited
            if time.monotonic() - self._failed_at < FAILURE_BACKOFF:
                raise AuthUnavailable("the identity provider is unreachable; try again shortly")
            try:
                if self._discovery is None:
                    document = await _get_json(self.discovery_url)
                    for name in ("issuer", "jwks_uri"):
                        if not isinstance(document.get(name), str):
                            raise ValueError(f"discovery document has no {name}")
                    self._discovery = document
                keys = _parse_jwks(await _get_json(self._discovery["jwks_uri"]))
            except Exception as exc:
                self._failed_at = time.monotonic()
                log.warning("fetching the realm's keys (%s) failed: %s", reason, exc)
                raise AuthUnavailable("the identity provider is unreachable; try again shortly") from None
            self._keys = keys
            self._fetched_at = time.monotonic()
            log.info("fetched %d realm signing keys (%s)", len(keys), reason)

    async def keep_trying(self, stop: asyncio.Event, interval: float = 5.0) -> None:
        """At start: fetch until it works (Keycloak may come up after the API), then return."""
        while not stop.is_set() and not self._keys:
            try:
                await self.refresh(reason="start")
            except AuthUnavailable:
                pass
            if self._keys:
                return
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass


async def _get_json(url: str) -> dict[str, Any]:
    request = HTTPRequest(url, connect_timeout=FETCH_TIMEOUT, request_timeout=FETCH_TIMEOUT,
                          headers={"Accept": "application/json"})
    response = await AsyncHTTPClient().fetch(request, raise_error=True)
    document = json.loads(response.body)
    if not isinstance(document, dict):
        raise ValueError(f"{url} did not answer a JSON object")
    return document


def _parse_jwks(document: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    """The signature keys of a JWKS, by key id; encryption keys and other algorithms are left out."""
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document.get("keys", []):
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or not entry.get("kid"):
            continue
        algorithm = entry.get("alg") or {"RSA": "RS256", "EC": "ES256"}.get(entry.get("kty", ""))
        if algorithm not in ALLOWED_ALGORITHMS or entry.get("kty") != key_type(algorithm):
            continue
        try:
            keys[str(entry["kid"])] = jwt.PyJWK(entry, algorithm=algorithm)
        except jwt.PyJWTError as exc:
            log.warning("skipping realm key %r: %s", entry.get("kid"), exc)
    if not keys:
        raise ValueError("the realm's JWKS holds no RSA or EC signature key")
    return keys
