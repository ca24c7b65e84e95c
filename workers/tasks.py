"""The task code: one job from QUEUED to COMPLETED, ERROR or ABORTED.

Celery's ``spt.run_job`` and the embedded process pool both call
:func:`execute_job`; it claims the job with a conditional update, so a second
delivery of the same message is a no-op.
"""

from __future__ import annotations

import logging
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import IO

import sqlalchemy.exc
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError
from structlog.contextvars import bound_contextvars

from spt_api.events.messages import phase_event, progress_event
from spt_api.services import ChildOutcome, FatalJobError, TransientJobError, UsageError, params_from_json
from spt_api.storage import result_key, safe_name
from spt_api.storage.inputs import StoredInputs
from spt_api.uws.errors import overrun_message
from spt_api.uws.models import ErrorSummary, ErrorType, Job, JobResult, Progress, utcnow
from spt_api.uws.phases import ExecutionPhase
from workers.runtime import WORKER, WorkerRuntime

__all__ = ["RunContext", "execute_job"]

log = logging.getLogger(__name__)

#: How often ``is_aborted`` really asks the store; cheap enough for tight loops.
ABORT_CHECK_INTERVAL = 0.25
#: Shortest time between two stored progress reports: smooth for a progress bar, light on the database.
PROGRESS_INTERVAL = 0.25
#: Said by :func:`_run_and_record` of a job that fanned out: it ends when its children do.
_SPLIT = object()


class RunContext:
    """The :class:`spt_api.services.JobContext` given to a service's ``run``."""

    def __init__(self, job: Job, runtime: WorkerRuntime) -> None:
        self.job = job
        self.job_id = job.job_id
        self.runtime = runtime
        self.settings = runtime.settings
        spec = runtime.services.get(job.service)
        self.service_settings = spec.settings_for(runtime.settings) if spec is not None else None
        self._workdir: Path | None = None
        self.results: dict[str, JobResult] = {}
        self._aborted = False
        self._last_abort_check = 0.0
        self._last_progress = 0.0
        self._inputs: StoredInputs | None = None
        self._downloads: dict[str, Path] = {}

    @property
    def workdir(self) -> Path:
        # Made on first use: most jobs never write a scratch file, and mkdir + rmtree per job is not free.
        if self._workdir is None:
            self._workdir = self.runtime.scratch_dir / safe_name(self.job_id)
            self._workdir.mkdir(parents=True, exist_ok=True)
        return self._workdir

    def remove_workdir(self) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def progress(self, done: int, total: int, message: str = "") -> None:
        now = time.monotonic()
        # A service may report as often as it likes; the store and the event channel see a few per second.
        if done < total and done != 0 and now - self._last_progress < PROGRESS_INTERVAL:
            return
        self._last_progress = now
        progress = Progress(done, total, message)
        try:
            self.runtime.store.set_progress(WORKER, self.job_id, progress)
        except sqlalchemy.exc.SQLAlchemyError as exc:
            # Progress is a courtesy: a database blip must not fail the job (its end is recorded later).
            log.warning("progress not stored: %s", exc)
        self.runtime.events.publish(
            self.job_id,
            progress_event(self.job, done, total, message),
        )

    def add_result(
        self, name: str, data: bytes | Path, mime_type: str | None = None, *, result_id: str | None = None
    ) -> str:
        rid = safe_name(result_id or name)
        if rid in self.results and self.results[rid].key != result_key(self.job.service, self.job_id, name):
            raise FatalJobError(f"duplicate result id {rid!r}")
        key = result_key(self.job.service, self.job_id, name)
        if isinstance(data, bytes) and len(data) <= self.settings.inline_result_max:
            # Kept in the job's record, written by the same UPDATE that completes it: no storage write now,
            # no storage read when it is fetched (an echo's message, a sync answer, a small manifest).
            self.results[rid] = JobResult(rid, key, mime_type, len(data), data=bytes(data))
            return rid
        try:
            if isinstance(data, Path):
                size = self.runtime.objects.put_file(key, data, mime_type)
            else:
                size = self.runtime.objects.put_bytes(key, data, mime_type)
        except (OSError, BotoCoreError, ClientError, S3UploadFailedError) as exc:
            # Say what failed in words a user understands; worth retrying later (transient).
            raise TransientJobError(
                f"could not store the result {rid!r}: the result storage is unavailable "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        self.results[rid] = JobResult(rid, key, mime_type, size)
        return rid

    @property
    def inputs(self) -> StoredInputs:
        if self._inputs is None:
            self._inputs = StoredInputs(self.runtime.objects, self.settings, self.service_settings)
        return self._inputs

    def input_path(self, ref: str) -> Path:
        # A local store's file is read in place; a remote one is downloaded once per job.
        try:
            local = self.inputs.local_path(ref)
            if local is not None:
                return local
            target = self.workdir / "inputs" / f"{len(self._downloads)}-{safe_name(ref.rsplit('/', 1)[-1])}"
            if ref not in self._downloads:
                self._downloads[ref] = self.inputs.download(ref, target)
            return self._downloads[ref]
        except FileNotFoundError:
            raise UsageError(f"the input {ref!r} is no longer stored") from None

    def open_input(self, ref: str) -> IO[bytes]:
        try:
            return self.inputs.open(ref)
        except FileNotFoundError:
            raise UsageError(f"the input {ref!r} is no longer stored") from None

    def is_aborted(self) -> bool:
        if self._aborted:
            return True
        now = time.monotonic()
        if now - self._last_abort_check >= ABORT_CHECK_INTERVAL:
            self._last_abort_check = now
            self._aborted = self.runtime.store.phase(WORKER, self.job_id) != ExecutionPhase.EXECUTING
        return self._aborted


def _summary(exc: BaseException) -> ErrorSummary:
    if isinstance(exc, UsageError):
        return ErrorSummary(ErrorType.FATAL, str(exc))
    if isinstance(exc, TransientJobError):
        return ErrorSummary(ErrorType.TRANSIENT, str(exc), traceback.format_exc())
    if isinstance(exc, FatalJobError):
        return ErrorSummary(ErrorType.FATAL, str(exc), traceback.format_exc())
    return ErrorSummary(
        ErrorType.FATAL, f"internal error: {type(exc).__name__}: {exc}", traceback.format_exc()
    )


def execute_job(
    job_id: str, runtime: WorkerRuntime, timeout_errors: tuple[type[BaseException], ...] = ()
) -> ExecutionPhase | None:
    """Run one job; returns its final phase, or None when another worker had it (or it was aborted).

    ``timeout_errors`` are the exceptions by which the worker says the job ran
    past its executionDuration (Celery's soft time limit): the job is then
    aborted, as UWS §2.1.4 says an overrun should be. Every log line written meanwhile
    carries the job id (structlog context variables).
    """
    with bound_contextvars(job_id=job_id):
        return _execute(job_id, runtime, timeout_errors)


def _execute(
    job_id: str, runtime: WorkerRuntime, timeout_errors: tuple[type[BaseException], ...]
) -> ExecutionPhase | None:
    job = runtime.store.claim(WORKER, job_id, runtime.worker_id)
    if job is None:
        log.info("job not claimed: it is no longer QUEUED (a repeated message, or aborted)")
        return None
    log.info("job started: %s, attempt %d", job.service, job.attempts, extra={"service": job.service})
    runtime.events.hold_start(job_id, phase_event(job, with_state=True))
    spec = runtime.services.get(job.service)

    def body(ctx: RunContext) -> bool:
        """Run the job; False when it was split into children and must wait for them."""
        if spec is None:
            raise FatalJobError(f"this worker does not know the service {job.service!r}")
        params = spec.params_model.from_uws(job.parameters)
        if job.sync:
            # A DALI sync request: its answer is one result, from the service's sync function when it has one.
            sync = spec.load_sync()
            if sync is not None:
                answer = sync(params, runtime.settings, ctx.service_settings)
                ctx.add_result(answer.filename, answer.data, answer.mime_type)
                return True
        elif job.parent_id is None and spec.split is not None:
            if job.attempts > 1 and runtime.store.children(WORKER, job_id):
                # A requeued parent: its children exist already; merge (once) if they have all ended.
                _merge_if_done(job.job_id, runtime, claimed=job if job.pending_children == 0 else None)
                return False
            split = spec.load_split()
            parts = split(params, runtime.settings) if split else [params]
            # One part other than the job itself is a fan-out too: the work belongs elsewhere (a search of
            # a one-shard index goes to that shard's workers).
            if len(parts) > 1 or (len(parts) == 1 and parts[0] != params):
                queues = [spec.queue_of(p) for p in parts]
                _fan_out(job, [params_from_json(p.to_message()) for p in parts], runtime, queues)
                return False
        spec.load_run()(params, ctx)
        return True

    final = _settle(job, runtime, body, timeout_errors)
    if job.parent_id is not None and final is not None:
        _child_ended(job, runtime)
    return final


def _settle(
    job: Job,
    runtime: WorkerRuntime,
    body: Callable[[RunContext], bool],
    timeout_errors: tuple[type[BaseException], ...] = (),
    ctx_class: type[RunContext] | None = None,
) -> ExecutionPhase | None:
    """Run ``body`` with a heartbeat, then record COMPLETED, ERROR or ABORTED with one conditional update."""
    job_id = job.job_id
    started = time.monotonic()
    ctx = (ctx_class or RunContext)(job, runtime)
    try:
        with runtime.heartbeats.beating(job_id):
            final = _run_and_record(job, runtime, ctx, body, timeout_errors)
    finally:
        ctx.remove_workdir()
    if final is _SPLIT:
        log.info("job split into children; it ends when they do")
        return None
    elapsed = time.monotonic() - started
    if isinstance(final, Job):
        log.info("job finished: %s in %.3f s", final.phase.value, elapsed, extra={"phase": final.phase.value})
        runtime.events.publish(job_id, phase_event(final, duration=elapsed, with_state=True))
        return final.phase
    log.info("job finished: aborted or taken over meanwhile, after %.3f s", elapsed)
    runtime.events.drop(job_id)
    return None


def _run_and_record(
    job: Job,
    runtime: WorkerRuntime,
    ctx: RunContext,
    body: Callable[[RunContext], bool],
    timeout_errors: tuple[type[BaseException], ...],
) -> Job | object | None:
    """The job as recorded at its end; None when it had been aborted or taken over; _SPLIT when it fanned out."""
    job_id = job.job_id
    try:
        finished = body(ctx)
    except timeout_errors:
        try:
            return runtime.store.abort(WORKER,
                job_id, ErrorSummary(ErrorType.FATAL, overrun_message(job.execution_duration))
            )
        except Exception:
            return None
    except Exception as exc:
        summary = _summary(exc)
        log.info("job failed: %s", summary.message)
        ended = utcnow()
        failed = runtime.store.fail(WORKER,
            job_id, summary, worker_id=runtime.worker_id, from_phases=[ExecutionPhase.EXECUTING], ended=ended
        )
        return replace(job, phase=ExecutionPhase.ERROR, end_time=ended, error=summary) if failed else None
    if not finished:
        return _SPLIT
    # Results are in storage before the job says COMPLETED, so a COMPLETED job's results resolve.
    ended = utcnow()
    results = tuple(ctx.results.values())
    done = runtime.store.complete(WORKER, job_id, list(results), worker_id=runtime.worker_id, ended=ended)
    return replace(job, phase=ExecutionPhase.COMPLETED, end_time=ended, results=results) if done else None


# -- fan-out ---------------------------------------------------------------------------------------------


class MergeRunContext(RunContext):
    """The :class:`spt_api.services.MergeContext` of a parent: its children's results are reachable."""

    def read_result(self, result: JobResult) -> bytes:
        if result.data is not None:
            return result.data
        return b"".join(self.runtime.objects.read_chunks(result.key))

    def fetch_result(self, result: JobResult, destination: Path) -> None:
        destination.parent.mkdir(parents=True, exist_ok=True)
        if result.data is not None:
            destination.write_bytes(result.data)
            return
        with destination.open("wb") as handle:
            for chunk in self.runtime.objects.read_chunks(result.key):
                handle.write(chunk)

    def adopt_result(self, result: JobResult) -> str:
        if result.result_id in self.results:
            raise FatalJobError(f"two children produced the result id {result.result_id!r}")
        self.results[result.result_id] = result
        return result.result_id


def _fan_out(
    parent: Job, parameter_sets: list[list[tuple[str, str]]], runtime: WorkerRuntime, queues: list[str] | None = None
) -> None:
    """Create the children, each on the queue its service picks for its parameters (``queue_for``)."""
    children = runtime.store.create_children(WORKER, parent, parameter_sets, queues)
    log.info("job split into %d children", len(children))
    runtime.store.set_progress(WORKER, parent.job_id, Progress(0, len(children), f"0 of {len(children)} parts"))
    for child in children:
        runtime.events.publish(child.job_id, phase_event(child, ExecutionPhase.QUEUED))
        runtime.dispatch(child)


def _child_ended(child: Job, runtime: WorkerRuntime) -> None:
    """A child reached a final phase: count it on the parent, and merge when it was the last."""
    parent_id = child.parent_id
    assert parent_id is not None
    # Counted by the database: each child's end would otherwise read every child's whole row.
    done, total = runtime.store.count_children(WORKER, parent_id)
    message = f"{done} of {total} parts"
    # A sibling that ended at the same time may have counted one more and written it first: a smaller
    # count is stale, neither written (the parent would end COMPLETED at 3 of 4) nor announced.
    if runtime.store.set_progress(WORKER, parent_id, Progress(done, total, message), forward_only=True):
        # The parent has its child's owner.
        runtime.events.publish(parent_id, progress_event(child, done, total, message))
    with bound_contextvars(job_id=parent_id):
        _merge_if_done(parent_id, runtime)


def _merge_if_done(parent_id: str, runtime: WorkerRuntime, *, claimed: Job | None = None) -> ExecutionPhase | None:
    """Merge the children's results into the parent, once, when they have all ended.

    ``claimed``: the parent, already EXECUTING for this worker with no child left running.
    """
    job = claimed or runtime.store.claim_merge(WORKER, parent_id, runtime.worker_id)
    if job is None:
        return None
    spec = runtime.services.get(job.service)

    def body(ctx: RunContext) -> bool:
        if spec is None:
            raise FatalJobError(f"this worker does not know the service {job.service!r}")
        merge = spec.load_merge()
        if merge is None:
            raise FatalJobError(f"service {job.service!r} split a job but has no merge")
        params = spec.params_model.from_uws(job.parameters)
        outcomes = [
            ChildOutcome(
                job_id=child.job_id,
                params=spec.params_model.from_uws(child.parameters),
                phase=child.phase.value,
                results=child.results,
                error_message=child.error.message if child.error else None,
            )
            for child in runtime.store.children(WORKER, job.job_id)
        ]
        assert isinstance(ctx, MergeRunContext)
        merge(params, outcomes, ctx)
        return True

    return _settle(job, runtime, body, ctx_class=MergeRunContext)
