"""What a running job may do: the context given to ``run(params, ctx)`` and to a fan-out ``merge``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from spt_api.uws.models import JobResult

if TYPE_CHECKING:
    from spt_api.services.params import ParamsModel

__all__ = ["ChildOutcome", "JobContext", "MergeContext"]


class JobContext(Protocol):
    """What a running job may do; given to ``run(params, ctx)``."""

    job_id: str
    #: The core settings (``spt_api.config.Settings``): data directory, S3 endpoint and credentials.
    settings: Any
    #: The service's own settings (its declaration's ``settings`` class, ``SPT_API_<SERVICE>_*``), or None.
    service_settings: Any

    @property
    def workdir(self) -> Path:
        """A scratch directory of the job's own, made on first use and removed when the job ends."""

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Report progress (n of N); published as a job event."""

    def add_result(
        self, name: str, data: bytes | Path, mime_type: str | None = None, *, result_id: str | None = None
    ) -> str:
        """Store one result (bytes or a file) and return its result id; recorded when the job completes."""

    def is_aborted(self) -> bool:
        """True once the job has been aborted; long loops check it between steps."""

    def input_path(self, ref: str) -> Path:
        """A local file holding the input ``ref`` (an ``InputFile`` parameter's value): the stored file
        itself on a local store, else a copy downloaded into the job's scratch directory."""

    def open_input(self, ref: str) -> IO[bytes]:
        """A seekable binary file object reading the input ``ref``; close it after use."""


class MergeContext(JobContext, Protocol):
    """The context of a fan-out parent's ``merge``: a job context that can also reach its children's results."""

    def read_result(self, result: JobResult) -> bytes:
        """The bytes of a child's stored result."""

    def fetch_result(self, result: JobResult, destination: Path) -> None:
        """Copy a child's stored result into a local file (for large files and bundles)."""

    def adopt_result(self, result: JobResult) -> str:
        """List a child's stored result as a result of this job, without copying; return its result id."""


@dataclass(frozen=True)
class ChildOutcome:
    """What one fan-out child did: its parameters, final phase, results and error message."""

    job_id: str
    params: ParamsModel
    phase: str
    results: tuple[JobResult, ...]
    error_message: str | None = None
