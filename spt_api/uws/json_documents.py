"""The JSON documents of the API, typed: the job, the job list, results, parameters and errors.

One source for both sides: the handlers render these models, and ``/api/openapi.json``
takes its schemas from them, so the JSON and its schema cannot drift apart. Names
follow UWS 1.1's XML elements in camelCase (Appendix B).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from spt_api.uws.documents import format_datetime
from spt_api.uws.models import Job, JobRef, JobResult

__all__ = [
    "ErrorDocument",
    "JobDocument",
    "JobListDocument",
    "ResultDocument",
    "ResultsDocument",
    "component_schemas",
    "job_document",
    "job_list_document",
    "parameters_document",
    "results_document",
]

ResultUrl = Callable[[JobResult], str]
Phase = Literal["PENDING", "QUEUED", "EXECUTING", "COMPLETED", "ERROR", "ABORTED", "UNKNOWN", "HELD", "SUSPENDED",
                "ARCHIVED"]
_DOCUMENT = ConfigDict(extra="forbid")


def _time(required: bool = False) -> Any:
    """A UWS time (ISO 8601 UTC with ``Z``), rendered by :func:`format_datetime`."""
    extra: dict[str, Any] = {"format": "date-time"}
    return Field(json_schema_extra=extra) if required else Field(None, json_schema_extra=extra)


class ResultDocument(BaseModel):
    model_config = _DOCUMENT

    id: str
    href: str
    size: int | None = None
    mimeType: str | None = None


class ResultsDocument(RootModel[list[ResultDocument]]):
    """The JSON twin of ``<uws:results>``."""


class ErrorSummaryDocument(BaseModel):
    model_config = _DOCUMENT

    type: Literal["fatal", "transient"]
    hasDetail: bool
    message: str


class ProgressDocument(BaseModel):
    model_config = _DOCUMENT

    done: int
    total: int
    message: str


class JobDocument(BaseModel):
    """The JSON twin of ``<uws:job>``."""

    model_config = _DOCUMENT

    jobId: str
    href: str
    runId: str | None
    ownerId: str | None
    phase: Phase
    service: str
    quote: str | None = _time()
    creationTime: str = _time(required=True)
    startTime: str | None = _time()
    endTime: str | None = _time()
    executionDuration: int
    destruction: str | None = _time()
    parameters: dict[str, list[str]]
    results: list[ResultDocument]
    errorSummary: ErrorSummaryDocument | None
    progress: ProgressDocument | None


class JobRefDocument(BaseModel):
    """The JSON twin of ``<uws:jobref>`` in a job list."""

    model_config = _DOCUMENT

    jobId: str
    href: str
    phase: Phase
    runId: str | None
    ownerId: str | None
    creationTime: str = _time(required=True)


class JobListDocument(BaseModel):
    model_config = _DOCUMENT

    version: Literal["1.1"]
    jobs: list[JobRefDocument]


class ErrorDocument(BaseModel):
    """Every error answered as JSON (the DALI text/plain document says the same)."""

    model_config = _DOCUMENT

    error: str
    message: str
    status: int
    parameter: str | None = None
    #: The job a 503 is about (stored, sent later): follow it rather than submit again.
    href: str | None = None


def _optional_time(value: Any) -> str | None:
    return format_datetime(value) if value is not None else None


def _results(job: Job, result_url: ResultUrl) -> list[ResultDocument]:
    return [
        ResultDocument.model_construct(id=r.result_id, href=result_url(r), size=r.size, mimeType=r.mime_type)
        for r in job.results
    ]


def results_document(job: Job, result_url: ResultUrl) -> ResultsDocument:
    return ResultsDocument.model_construct(_results(job, result_url))


def parameters_document(job: Job) -> dict[str, list[str]]:
    return job.parameters_dict()


def job_document(job: Job, result_url: ResultUrl, job_url: str) -> JobDocument:
    # Built without validation: the job store's Job is valid by construction, and this is the hottest path.
    return JobDocument.model_construct(
        jobId=job.job_id,
        href=job_url,
        runId=job.run_id,
        ownerId=job.owner_id,
        phase=job.phase.value,
        service=job.service,
        quote=_optional_time(job.quote),
        creationTime=format_datetime(job.creation_time),
        startTime=_optional_time(job.start_time),
        endTime=_optional_time(job.end_time),
        executionDuration=job.execution_duration,
        destruction=_optional_time(job.destruction_time),
        parameters=parameters_document(job),
        results=_results(job, result_url),
        errorSummary=(
            ErrorSummaryDocument.model_construct(type=job.error.error_type.value, hasDetail=True,
                                                 message=job.error.message)
            if job.error
            else None
        ),
        progress=(
            ProgressDocument.model_construct(done=job.progress.done, total=job.progress.total,
                                             message=job.progress.message)
            if job.progress
            else None
        ),
    )


def job_list_document(jobs: Iterable[JobRef], job_url: Callable[[JobRef], str]) -> JobListDocument:
    return JobListDocument.model_construct(
        version="1.1",
        jobs=[
            JobRefDocument.model_construct(
                jobId=job.job_id,
                href=job_url(job),
                phase=job.phase.value,
                runId=job.run_id,
                ownerId=job.owner_id,
                creationTime=format_datetime(job.creation_time),
            )
            for job in jobs
        ],
    )


def component_schemas() -> dict[str, Any]:
    """The OpenAPI component schemas of these documents (``#/components/schemas/<Name>``)."""
    schemas: dict[str, Any] = {}
    models: dict[str, type[BaseModel]] = {"Job": JobDocument, "JobList": JobListDocument, "Error": ErrorDocument}
    for name, model in models.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
    schemas["Results"] = ResultsDocument.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas["Parameters"] = {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}
    return schemas
