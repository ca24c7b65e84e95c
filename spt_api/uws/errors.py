"""The one error taxonomy of spt-api.

Request errors carry their HTTP status and are rendered by one handler
(``BaseHandler.write_error``); a :class:`UsageError` is also what a service raises for the user's
fault (the other job errors are in :mod:`spt_api.services.errors`).
"""

from __future__ import annotations

__all__ = [
    "BadRequestError",
    "ConflictError",
    "HeadersTooLargeError",
    "JobNotSentError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RequestError",
    "ServiceUnavailableError",
    "URITooLongError",
    "UsageError",
    "overrun_message",
]


class RequestError(Exception):
    """An error answered to an HTTP client with ``status`` and a short error name."""

    status = 400
    error = "bad_request"

    def __init__(self, message: str, *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.parameter = parameter


class BadRequestError(RequestError):
    status = 400
    error = "usage_error"


class UsageError(BadRequestError):
    """The user's input is wrong: 400 at submission, a fatal error summary during a job."""


class PermissionDeniedError(RequestError):
    """Forbidden by the job's state or by policy (UWS §2.2: 403)."""

    status = 403
    error = "forbidden"


class NotFoundError(RequestError):
    status = 404
    error = "not_found"


class MethodNotAllowedError(RequestError):
    status = 405
    error = "method_not_allowed"


class ConflictError(RequestError):
    status = 409
    error = "conflict"


class PayloadTooLargeError(RequestError):
    status = 413
    error = "payload_too_large"


class URITooLongError(RequestError):
    status = 414
    error = "uri_too_long"


class HeadersTooLargeError(RequestError):
    status = 431
    error = "header_fields_too_large"


class ServiceUnavailableError(RequestError):
    status = 503
    error = "service_unavailable"


class JobNotSentError(ServiceUnavailableError):
    """The job is stored QUEUED but its message could not be sent; the reconciler sends it later.

    The answer still names the job (``Location``), so a client does not submit it twice.
    """

    def __init__(self, message: str, *, service: str, job_id: str) -> None:
        super().__init__(message)
        self.service = service
        self.job_id = job_id


def overrun_message(seconds: int) -> str:
    """Why a job was aborted for running past its executionDuration (UWS §2.1.4)."""
    return f"job exceeded its executionDuration of {seconds} s and was aborted"
