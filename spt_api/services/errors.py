"""The errors a service's ``run`` (or ``split``, ``merge``, ``sync``) raises, mapped to a UWS error summary.

A :class:`UsageError` is the user's fault: 400 at submission, a fatal error
summary with no traceback during a job. :class:`FatalJobError` is ours (fatal,
with traceback); :class:`TransientJobError` may go away on retry.
"""

from __future__ import annotations

from spt_api.uws.errors import NotFoundError, PermissionDeniedError, UsageError

__all__ = ["FatalJobError", "NotFoundError", "PermissionDeniedError", "TransientJobError", "UsageError"]


class FatalJobError(Exception):
    """A job failed for a reason that will not go away on retry."""


class TransientJobError(Exception):
    """A job failed for a reason that may go away (a backend was down)."""
