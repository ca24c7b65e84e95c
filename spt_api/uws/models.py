"""UWS job, result and error models (UWS 1.1 §2.1, Appendix B). No I/O."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from spt_api.uws.phases import ExecutionPhase

__all__ = [
    "ErrorSummary", "ErrorType", "Job", "JobRef", "JobResult", "Progress", "decode_inline", "encode_inline", "utcnow",
]


def utcnow() -> datetime:
    """Now in UTC, truncated to milliseconds as stored by every backend."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class ErrorType(StrEnum):
    FATAL = "fatal"
    TRANSIENT = "transient"


@dataclass(frozen=True)
class ErrorSummary:
    """Why a job ended in ERROR; ``message`` is plain text shown in errorSummary and /error."""

    error_type: ErrorType
    message: str
    detail: str | None = None


@dataclass(frozen=True)
class JobResult:
    """One result of a job: ``result_id`` is unique in the job, ``key`` locates it in the object store.

    ``data``: the result's bytes when it is small enough to be kept with the job itself (a worker's
    ``SPT_API_INLINE_RESULT_MAX``); nothing is then stored under ``key``, which still names it (its file
    name, its place among the job's keys).
    """

    result_id: str
    key: str
    mime_type: str | None = None
    size: int | None = None
    data: bytes | None = field(default=None, repr=False)

    def record(self) -> dict[str, Any]:
        """This result as the job store keeps it, in JSON (``data`` in base64, and only when present)."""
        record: dict[str, Any] = {"id": self.result_id, "key": self.key, "mime_type": self.mime_type, "size": self.size}
        if self.data is not None:
            record["data"] = encode_inline(self.data)
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> JobResult:
        return cls(record["id"], record["key"], record.get("mime_type"), record.get("size"),
                   decode_inline(record.get("data")))


def encode_inline(data: bytes) -> str:
    """An inline result's bytes as JSON carries them (the job store's record, a worker's event)."""
    return base64.b64encode(data).decode("ascii")


def decode_inline(text: str | None) -> bytes | None:
    return base64.b64decode(text) if text is not None else None


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    message: str = ""


@dataclass(frozen=True, slots=True)
class JobRef:
    """What a job list shows of a job (UWS ShortJobDescription)."""

    job_id: str
    service: str
    phase: ExecutionPhase
    run_id: str | None
    owner: str | None
    creation_time: datetime
    #: The owner's login name when the job was listed (shown as ownerId); None: show ``owner``.
    owner_name: str | None = None

    @property
    def owner_id(self) -> str | None:
        """What UWS calls the ownerId: the owner's login name, else their subject (None: no owner)."""
        return self.owner_name or self.owner


@dataclass(frozen=True)
class Job:
    """A UWS job as stored; parameters keep their order and may repeat."""

    job_id: str
    service: str
    owner: str | None
    phase: ExecutionPhase
    creation_time: datetime
    execution_duration: int
    destruction_time: datetime | None
    parameters: tuple[tuple[str, str], ...] = ()
    run_id: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    quote: datetime | None = None
    results: tuple[JobResult, ...] = ()
    error: ErrorSummary | None = None
    progress: Progress | None = None
    attempts: int = 0
    worker_id: str | None = None
    heartbeat_time: datetime | None = None
    task_id: str | None = None
    parent_id: str | None = None
    pending_children: int | None = None
    #: The queue its messages go to, chosen by its service at creation.
    queue: str = ""
    #: Created by a DALI sync request (its answer is its one result).
    sync: bool = False
    #: The owner's login name (``preferred_username``), shown as ownerId; ``owner`` (the subject) decides access.
    owner_name: str | None = None

    @property
    def owner_id(self) -> str | None:
        """What UWS calls the ownerId: the owner's login name, else their subject (None: no owner)."""
        return self.owner_name or self.owner

    def parameters_dict(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for key, value in self.parameters:
            out.setdefault(key, []).append(value)
        return out
