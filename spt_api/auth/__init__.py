"""Keycloak authentication: bearer tokens (:class:`Authenticator`), browser sessions (:mod:`.session`)."""

from spt_api.auth.authenticator import Authenticator, Identity
from spt_api.auth.errors import AuthError, AuthUnavailable, InvalidToken, MissingCredentials, NotAuthorised

__all__ = [
    "AuthError",
    "AuthUnavailable",
    "Authenticator",
    "Identity",
    "InvalidToken",
    "MissingCredentials",
    "NotAuthorised",
]
