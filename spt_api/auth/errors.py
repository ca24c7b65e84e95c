"""Why a request is not authenticated: each error carries its status and ``WWW-Authenticate`` answer (RFC 6750)."""

from __future__ import annotations

from spt_api.uws.errors import PermissionDeniedError, RequestError, ServiceUnavailableError

__all__ = ["AuthError", "AuthUnavailable", "InvalidToken", "MissingCredentials", "NotAuthorised"]

#: The realm named in a ``WWW-Authenticate`` challenge.
REALM = "spt"


class AuthError(RequestError):
    """A request that cannot be served as anyone: 401, with a ``WWW-Authenticate`` challenge."""

    status = 401
    error = "unauthenticated"

    @property
    def www_authenticate(self) -> str | None:
        return f'Bearer realm="{REALM}"'


class MissingCredentials(AuthError):
    """No bearer token and no session: 401 with a bare ``Bearer realm=...`` challenge (RFC 6750 §3.1)."""


class InvalidToken(AuthError):
    """The bearer token is malformed, forged, expired, not yet valid, or meant for someone else."""

    error = "invalid_token"

    @property
    def www_authenticate(self) -> str | None:
        # The message says which check failed, to the log and the body; the challenge stays generic.
        return 'Bearer error="invalid_token"'


class NotAuthorised(PermissionDeniedError):
    """A valid identity without the role the API needs: 403 (RFC 6750 ``insufficient_scope``)."""

    @property
    def www_authenticate(self) -> str | None:
        return 'Bearer error="insufficient_scope"'


class AuthUnavailable(ServiceUnavailableError):
    """The identity provider cannot be reached and no key is cached to check the token with: 503."""

    retry_after = 5
