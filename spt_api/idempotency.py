"""Idempotent job submission: a client's ``Idempotency-Key`` header on ``POST /api/{service}/jobs``.

A client that lost the answer to its POST (a connection error, the API restarted) cannot know whether
its job exists; submitting again would make a duplicate. With an ``Idempotency-Key`` (any string of
its own, e.g. a UUID, unique per job it means to create), a retry gets the job the first try made:
the key is stored with the job, unique per owner, with a hash of the request. The same key again
with the same request is a replay (303 to that job); with another request it is a client's mistake
(409 Conflict: a key names one submission). The key lives as long as its job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from spt_api.uws.errors import ConflictError, UsageError
from spt_api.uws.models import Job

__all__ = ["HEADER", "MAX_KEY_LENGTH", "check_idempotency_key", "replayed", "request_fingerprint"]

HEADER = "Idempotency-Key"
#: The stored column's width.
MAX_KEY_LENGTH = 255


def check_idempotency_key(key: str) -> str:
    """The key as stored; a :class:`UsageError` (400) for an empty or over-long one."""
    key = key.strip()
    if not key:
        raise UsageError(f"the {HEADER} header is empty", parameter=HEADER)
    if len(key) > MAX_KEY_LENGTH:
        raise UsageError(f"the {HEADER} header is limited to {MAX_KEY_LENGTH} characters", parameter=HEADER)
    return key


def request_fingerprint(service: str, pairs: Sequence[tuple[str, str]]) -> str:
    """A hash of what was asked for: the service and every parameter, in order (PHASE and RUNID too)."""
    text = json.dumps([service, [[name, value] for name, value in pairs]], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def replayed(key: str, fingerprint: str, job: Job, stored: str | None) -> Job:
    """The job created with ``key`` when this request is the same as that one's; else 409."""
    if stored != fingerprint:
        raise ConflictError(
            f"{HEADER} {key!r} was already used to create job {job.job_id} ({job.service}) with other "
            f"parameters; send a new key to create another job, or the same request to get that one"
        )
    return job
