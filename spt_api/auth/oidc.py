"""The browser login's calls to Keycloak (python-keycloak): the code exchange and the session's end.

Both are blocking HTTP calls: the handlers run them in a thread. The authorization URL is built
from the cached discovery document, without a call.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode

from spt_api.config import Settings

__all__ = ["LoginClient", "pkce_pair"]

SCOPE = "openid profile email"


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class LoginClient:
    """The API's confidential client at Keycloak (``SPT_API_KEYCLOAK_CLIENT_ID`` / ``_CLIENT_SECRET``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Any = None

    def _openid(self) -> Any:
        if self._client is None:
            from keycloak import KeycloakOpenID

            settings = self.settings
            self._client = KeycloakOpenID(
                server_url=settings.keycloak_url.rstrip("/") + "/",
                realm_name=settings.keycloak_realm,
                client_id=settings.keycloak_client_id,
                client_secret_key=settings.keycloak_client_secret.get_secret_value() or None,
                timeout=10,
            )
        return self._client

    def authorization_url(
        self, endpoint: str, redirect_uri: str, state: str, nonce: str, challenge: str
    ) -> str:
        query = urlencode({
            "client_id": self.settings.keycloak_client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "scope": SCOPE,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        })
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    def exchange_code(self, code: str, redirect_uri: str, verifier: str) -> dict[str, Any]:
        """The tokens for an authorization code (blocking); raises python-keycloak's errors."""
        tokens: dict[str, Any] = self._openid().token(
            grant_type="authorization_code", code=code, redirect_uri=redirect_uri, code_verifier=verifier
        )
        return tokens

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        """New tokens for a refresh token (blocking): Keycloak's word that the session still stands."""
        tokens: dict[str, Any] = self._openid().refresh_token(refresh_token)
        return tokens

    def end_session(self, refresh_token: str) -> None:
        """End the user's Keycloak session (back-channel logout with the refresh token; blocking)."""
        self._openid().logout(refresh_token)
