"""UWS 1.1 job resources: the job list, the job and its sub-resources."""

from __future__ import annotations

from spt_api.handlers.base import BaseHandler, content_disposition, text_charset
from spt_api.job_render import JobLinks, render_job
from spt_api.pages import job_list_view, job_view
from spt_api.services import input_fields
from spt_api.uws import documents, json_documents
from spt_api.uws.documents import format_datetime
from spt_api.uws.errors import NotFoundError, PermissionDeniedError, ServiceUnavailableError, UsageError
from spt_api.uws.models import Job, JobRef, JobResult
from spt_api.uws.phases import ExecutionPhase
from spt_api.uws.requests import parse_datetime, parse_last, parse_phases, parse_wait

__all__ = ["JOB_ROUTES"]

#: UWS control parameters (UWS §2.2.3, DALI §3.4.6): meaningful at creation, never stored as parameters.
CONTROL_PARAMETERS = frozenset({"PHASE", "RUNID", "EXECUTIONDURATION", "DESTRUCTION", "ACTION", "WAIT"})


#: A result this small is read whole and sent in one write; a larger one is streamed chunk by chunk.
WHOLE_READ_BYTES = 256 * 1024


class JobBaseHandler(BaseHandler):
    @property
    def links(self) -> JobLinks:
        return JobLinks(self.absolute(""), self.settings_obj.base_path)

    def list_url(self, service: str) -> str:
        return self.links.list_url(service)

    def job_url(self, job: Job | JobRef) -> str:
        return self.links.job_url(job)

    def result_url(self, job: Job) -> documents.ResultUrl:
        return self.links.result_url(job)

    def file_parameters(self, service: str) -> frozenset[str]:
        """The lower-cased names of the service's ``InputFile`` parameters (uploads kept byte for byte)."""
        return frozenset(input_fields(self.jobs.service(service).params_model))

    async def load(self, service: str, job_id: str) -> Job:
        return await self.jobs.get(self.principal(), service, job_id)

    async def stream(self, result: JobResult, filename: str) -> None:
        mime_type = result.mime_type or "application/octet-stream"
        self.set_header("Content-Type", text_charset(mime_type))
        self.set_header("Content-Disposition", content_disposition(filename, mime_type))
        # Opened in place anyway (a link followed, a type sniffed by an old browser): no script, no origin.
        self.set_header("Content-Security-Policy", "sandbox; default-src 'none'")
        if result.data is not None:
            self.finish(result.data)
            return
        if result.size is not None:
            self.set_header("Content-Length", str(result.size))
        # A generator: it opens nothing until its first chunk is asked for, in the pool like every chunk.
        chunks = self.jobs.objects.read_chunks(result.key)
        try:
            if result.size is not None and result.size <= WHOLE_READ_BYTES:
                # Small (a sync echo, a cutout): one trip to the pool and one write, not one per chunk + 1.
                self.finish(await self.jobs.call(b"".join, chunks))
                return
            while True:
                chunk = await self.jobs.call(next, chunks, None)
                if chunk is None:
                    break
                self.write(chunk)
                await self.flush()
        except FileNotFoundError:
            raise NotFoundError(f"result {result.result_id!r} is no longer stored") from None
        self.finish()

    def write_job(self, job: Job) -> None:
        if self.wants_html:
            events = f"{self.settings_obj.base_path}/{job.service}/jobs/{job.job_id}/events"
            self.write_page("job.html", job=job_view(job, self.links), events=events)
            return
        kind = "json" if self.wants_json else "xml"
        body = render_job(self.jobs.cache, self.principal(), job, kind, self.links)
        if kind == "json":
            self.set_header("Content-Type", "application/json")
            self.finish(body)
        else:
            self.write_xml(body)


class JobListHandler(JobBaseHandler):
    async def get(self, service: str) -> None:
        phases = parse_phases(self.param_values("PHASE"))
        after_value = self.param("AFTER")
        after = parse_datetime(after_value, "AFTER") if after_value is not None else None
        last_value = self.param("LAST")
        last = parse_last(last_value) if last_value is not None else None
        # OWNER (an admin's filter; anyone else sees their own jobs whatever it says): a login name or subject.
        owner = self.param("OWNER") or None
        jobs = await self.jobs.list(self.principal(), service, phases, after, last, owner)
        if self.wants_html:
            view = job_list_view(service, self.jobs.service(service).title, jobs, self.links)
            self.write_page("job_list.html", view=view, events=f"{self.settings_obj.base_path}/events")
        elif self.wants_json:
            self.write_json(json_documents.job_list_document(jobs, self.job_url))
        else:
            self.write_xml(documents.jobs_to_xml(jobs, self.job_url))

    async def post(self, service: str) -> None:
        key = self.request.headers.get("Idempotency-Key")  # a retry gets the same job (spt_api.idempotency)
        pairs = await self.read_params(binary=self.file_parameters(service))
        job = await self.jobs.create(self.principal(), service, pairs, idempotency_key=key, uploads=self.uploads)
        self.see_other(self.job_url(job))


class JobHandler(JobBaseHandler):
    async def get(self, service: str, job_id: str) -> None:
        wait = self.param("WAIT")
        if wait is None:
            job = await self.load(service, job_id)
        else:
            timeout = parse_wait(wait, self.settings_obj.wait_max)
            phase_value = self.param("PHASE")
            phase = parse_phases([phase_value])[0] if phase_value is not None else None
            with self.lifecycle.long_request():
                done, waited = await self.lifecycle.unless_stopping(
                    self.jobs.wait(self.principal(), service, job_id, timeout, phase)
                )
                # The server is stopping: the job as it is now, while the job store is still open.
                job = waited if done and waited is not None else await self.load(service, job_id)
        self.write_job(job)

    async def delete(self, service: str, job_id: str) -> None:
        job = await self.load(service, job_id)
        await self.jobs.delete(self.principal(), job)
        self.see_other(self.list_url(service))

    async def post(self, service: str, job_id: str) -> None:
        job = await self.load(service, job_id)
        action = self.param("ACTION")
        if action is not None and action.strip().upper() == "DELETE":
            await self.jobs.delete(self.principal(), job)
            self.see_other(self.list_url(service))
            return
        names = sorted({k for k, _ in self.params()})
        # DALI §2.1: a job URL takes no parameters; say where each kind of change belongs (vollt#112).
        raise UsageError(
            "the job URL accepts only ACTION=DELETE"
            + (f" (got {', '.join(names)})" if names else "")
            + f"; POST PHASE=RUN|ABORT to {self.job_url(job)}/phase, parameters to {self.job_url(job)}/parameters",
            parameter=names[0] if names else "ACTION",
        )


class PhaseHandler(JobBaseHandler):
    async def get(self, service: str, job_id: str) -> None:
        self.write_text((await self.load(service, job_id)).phase.value)

    async def post(self, service: str, job_id: str) -> None:
        job = await self.load(service, job_id)
        job = await self.jobs.change_phase(self.principal(), job, self.param("PHASE"))
        self.see_other(self.job_url(job))


class ExecutionDurationHandler(JobBaseHandler):
    async def get(self, service: str, job_id: str) -> None:
        self.write_text(str((await self.load(service, job_id)).execution_duration))

    async def post(self, service: str, job_id: str) -> None:
        job = await self.load(service, job_id)
        job = await self.jobs.set_execution_duration(self.principal(), job, self.param("EXECUTIONDURATION"))
        self.see_other(self.job_url(job))


class DestructionHandler(JobBaseHandler):
    async def get(self, service: str, job_id: str) -> None:
        self.write_text(format_datetime((await self.load(service, job_id)).destruction_time))

    async def post(self, service: str, job_id: str) -> None:
        job = await self.load(service, job_id)
        job = await self.jobs.set_destruction(self.principal(), job, self.param("DESTRUCTION"))
        self.see_other(self.job_url(job))


class ErrorHandler(JobBaseHandler):
    async def get(self, service: str, job_id: str) -> None:
        job = await self.load(service, job_id)
        if job.error is None:
            # DALI §4.2: the error resource of a job that has not failed does not exist.
            raise NotFoundError(f"job {job_id} has no error (phase {job.phase.value})")
        self.write_text(job.error.message + "\n")


class QuoteHandler(JobBaseHandler):
    async def get(self, service: str, job_id: str) -> None:
        self.write_text(format_datetime((await self.load(service, job_id)).quote))


class OwnerHandler(JobBaseHandler):
    async def get(self, service: str, job_id: str) -> None:
        self.write_text((await self.load(service, job_id)).owner_id or "")


class ParametersHandler(JobBaseHandler):
    async def get(self, service: str, job_id: str) -> None:
        job = await self.load(service, job_id)
        if self.wants_json:
            self.write_json(json_documents.parameters_document(job))
        else:
            self.write_xml(documents.parameters_to_xml(job))

    async def post(self, service: str, job_id: str) -> None:
        job = await self.load(service, job_id)
        pairs = await self.read_params(binary=self.file_parameters(service))
        # Job control parameters are not service parameters: stored here they would bypass their
        # checks (RUNID's 64 characters, DESTRUCTION's limit) and never take effect. Each has its own
        # resource; refusing them is simpler and clearer than applying them as job creation does.
        for name, _ in pairs:
            if name.upper() in CONTROL_PARAMETERS:
                raise UsageError(
                    f"{name} is a job control parameter, not a parameter of the service; "
                    f"set it at job creation or at its own resource (e.g. {self.job_url(job)}/phase)",
                    parameter=name,
                )
        job = await self.jobs.update_parameters(self.principal(), job, pairs, uploads=self.uploads)
        self.see_other(self.job_url(job))


class ResultsHandler(JobBaseHandler):
    async def get(self, service: str, job_id: str) -> None:
        job = await self.load(service, job_id)
        if self.wants_json:
            self.write_json(json_documents.results_document(job, self.result_url(job)))
        else:
            self.write_xml(documents.results_to_xml(job, self.result_url(job)))


class ResultHandler(JobBaseHandler):
    async def get(self, service: str, job_id: str, result_id: str) -> None:
        job = await self.load(service, job_id)
        result = next((r for r in job.results if r.result_id == result_id), None)
        if result is None:
            raise NotFoundError(f"job {job_id} has no result {result_id!r}")
        if job.phase == ExecutionPhase.ARCHIVED:
            raise PermissionDeniedError(f"job {job_id} is ARCHIVED: its results were deleted")
        filename = result.key.rsplit("/", 1)[-1]
        if result.data is not None:  # kept with the job: nothing is stored to sign a URL for
            await self.stream(result, filename)
            return
        url = await self.jobs.call(
            self.jobs.objects.signed_url, result.key, self.settings_obj.result_url_lifetime, filename
        )
        if url is not None:
            # Signing needs no network: only the store's last known health tells a dead endpoint apart,
            # and a redirect there would fail at the client with no word of why.
            problem = await self.jobs.call(self.jobs.objects.health.problem)
            if problem is not None:
                raise ServiceUnavailableError(f"the result storage is unavailable: {problem}")
            self.see_other(url)
            return
        await self.stream(result, filename)


def _job(path: str) -> str:
    return r"/(?P<service>[a-z0-9_-]+)/jobs/(?P<job_id>[^/]+)" + path


JOB_ROUTES: list[tuple[str, type[BaseHandler]]] = [
    (r"/(?P<service>[a-z0-9_-]+)/jobs/?", JobListHandler),
    (_job(r"/?"), JobHandler),
    (_job("/phase"), PhaseHandler),
    (_job("/executionduration"), ExecutionDurationHandler),
    (_job("/destruction"), DestructionHandler),
    (_job("/error"), ErrorHandler),
    (_job("/quote"), QuoteHandler),
    (_job("/owner"), OwnerHandler),
    (_job("/parameters"), ParametersHandler),
    (_job("/results"), ResultsHandler),
    (_job("/results/(?P<result_id>[^/]+)"), ResultHandler),
]
