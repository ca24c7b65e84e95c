"""A job's documents with absolute links, rendered once per version of the job.

The job resource (``GET .../jobs/{id}``) and the WebSocket messages (:mod:`spt_api.live`) show the
same JSON document; both render it here, remembered in the job cache beside the job it shows.
"""

from __future__ import annotations

from urllib.parse import quote

from spt_api.job_cache import JobCache
from spt_api.uws import documents, json_documents
from spt_api.uws.models import Job, JobRef
from spt_api.uws.principal import Principal

__all__ = ["JobLinks", "render_job"]


class JobLinks:
    """The absolute URLs of jobs as seen from ``origin`` (``https://host``), under ``base_path``."""

    def __init__(self, origin: str, base_path: str) -> None:
        self.origin = origin
        self.base_path = base_path

    def list_url(self, service: str) -> str:
        return f"{self.origin}{self.base_path}/{service}/jobs"

    def job_url(self, job: Job | JobRef) -> str:
        return f"{self.list_url(job.service)}/{job.job_id}"

    def result_url(self, job: Job) -> documents.ResultUrl:
        base = self.job_url(job)
        return lambda result: f"{base}/results/{quote(result.result_id)}"


def render_job(cache: JobCache, principal: Principal, job: Job, kind: str, links: JobLinks) -> bytes:
    """The job's ``kind`` (``json`` or ``xml``) document, from the cache when this version was rendered."""
    body = cache.rendered(principal, job, kind, links.origin)
    if body is None:
        if kind == "json":
            document = json_documents.job_document(job, links.result_url(job), links.job_url(job))
            body = document.model_dump_json().encode()
        else:
            body = documents.job_to_xml(job, links.result_url(job))
        cache.remember_render(job, kind, links.origin, body)
    return body
