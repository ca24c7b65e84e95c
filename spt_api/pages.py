"""HTML pages for people, by content negotiation: the landing page, a service's job list, a job.

Jinja2 templates (``spt_api/templates``), autoescaped: every value shown (parameters, run ids,
error messages, result names) is the user's and is rendered as text, never as markup. The one
script, the live part, is inline with a per-response nonce, and the Content-Security-Policy allows
no other; the pages work without it.
"""

from __future__ import annotations

import functools
from typing import Any

import jinja2

from spt_api.job_render import JobLinks
from spt_api.uws.documents import format_datetime
from spt_api.uws.models import Job, JobRef
from spt_api.uws.phases import ACTIVE_PHASES, FINAL_PHASES, ExecutionPhase

__all__ = ["content_security_policy", "job_list_view", "job_view", "render_page"]

#: Parameters shown on a job page (a cutout job may have 490,000 positions: the page shows the first).
MAX_SHOWN_PARAMETERS = 200
#: Characters of one parameter value shown on a job page.
MAX_SHOWN_VALUE = 500


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("spt_api", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_page(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)


def content_security_policy(nonce: str, host: str) -> str:
    """Only the page's own inline script and style (by ``nonce``), links and forms to this origin,
    WebSockets back to ``host`` (named: older browsers do not count ws: as 'self'); nothing else runs,
    even should some value escape its escaping."""
    return (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        f"connect-src 'self' ws://{host} wss://{host}; img-src 'self' data:; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )


def _shorten(value: str) -> str:
    return value if len(value) <= MAX_SHOWN_VALUE else value[:MAX_SHOWN_VALUE] + f"… ({len(value)} characters)"


def job_view(job: Job, links: JobLinks) -> dict[str, Any]:
    """What the job page shows of ``job``."""
    result_url = links.result_url(job)
    return {
        "id": job.job_id,
        "service": job.service,
        "href": links.job_url(job),
        "list_href": links.list_url(job.service),
        "phase": job.phase.value,
        "final": job.phase in FINAL_PHASES,
        "can_run": job.phase in (ExecutionPhase.PENDING, ExecutionPhase.HELD),
        "can_abort": job.phase in (ExecutionPhase.QUEUED, ExecutionPhase.EXECUTING),
        "can_delete": job.parent_id is None,
        "run_id": job.run_id,
        "owner": job.owner,
        "parent_id": job.parent_id,
        "times": [
            ("Created", format_datetime(job.creation_time)),
            ("Started", format_datetime(job.start_time)),
            ("Ended", format_datetime(job.end_time)),
            ("Destruction", format_datetime(job.destruction_time)),
        ],
        "execution_duration": job.execution_duration,
        "progress": job.progress,
        "parameters": [(name, _shorten(value)) for name, value in job.parameters[:MAX_SHOWN_PARAMETERS]],
        "more_parameters": max(0, len(job.parameters) - MAX_SHOWN_PARAMETERS),
        "results": [
            {"id": r.result_id, "href": result_url(r), "mime_type": r.mime_type or "", "size": r.size}
            for r in job.results
        ],
        "error": job.error,
    }


def job_list_view(service: str, title: str, jobs: list[JobRef], links: JobLinks) -> dict[str, Any]:
    return {
        "service": service,
        "title": title,
        "href": links.list_url(service),
        "jobs": [
            {
                "id": j.job_id,
                "href": links.job_url(j),
                "phase": j.phase.value,
                "run_id": j.run_id or "",
                "owner": j.owner or "",
                "created": format_datetime(j.creation_time),
            }
            for j in jobs
        ],
        "phases": [p.value for p in ExecutionPhase],
        "active_phases": sorted(p.value for p in ACTIVE_PHASES),
    }
