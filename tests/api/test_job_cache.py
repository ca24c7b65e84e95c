"""The job read cache: dropped by events, never refilled by a read that raced with a change."""

from __future__ import annotations

from datetime import UTC, datetime

from spt_api.job_cache import JobCache
from spt_api.uws.models import Job
from spt_api.uws.phases import ExecutionPhase
from tests.support.principals import SYSTEM


def _job(phase: ExecutionPhase, job_id: str = "j1") -> Job:
    return Job(job_id, "echo", None, phase, datetime(2026, 1, 1, tzinfo=UTC), 60, None)


def test_put_get_and_invalidate() -> None:
    cache = JobCache(ttl=60)
    job = _job(ExecutionPhase.QUEUED)
    cache.put(job, cache.token())
    assert cache.get(SYSTEM, "j1") is job
    cache.invalidate("j1")
    assert cache.get(SYSTEM, "j1") is None


def test_a_read_that_raced_with_a_change_is_not_cached() -> None:
    cache = JobCache(ttl=60)
    token = cache.token()  # a request starts reading the job...
    cache.invalidate("j1")  # ...the job changes meanwhile (its event arrives)...
    cache.put(_job(ExecutionPhase.EXECUTING), token)  # ...and the read returns the old row
    assert cache.get(SYSTEM, "j1") is None
    fresh = cache.token()
    cache.put(_job(ExecutionPhase.COMPLETED), fresh)
    assert cache.get(SYSTEM, "j1") is not None


def test_other_jobs_changes_do_not_block_caching() -> None:
    cache = JobCache(ttl=60)
    token = cache.token()
    cache.invalidate("other")
    cache.put(_job(ExecutionPhase.QUEUED), token)
    assert cache.get(SYSTEM, "j1") is not None


def test_forgotten_invalidations_err_on_the_safe_side() -> None:
    cache = JobCache(ttl=60, max_entries=2)
    token = cache.token()
    for job_id in ("j1", "a", "b", "c"):  # j1's record is pushed out of the bounded history
        cache.invalidate(job_id)
    cache.put(_job(ExecutionPhase.QUEUED), token)
    assert cache.get(SYSTEM, "j1") is None


def test_ttl_zero_disables_the_cache() -> None:
    cache = JobCache(ttl=0)
    cache.put(_job(ExecutionPhase.QUEUED), cache.token())
    assert cache.get(SYSTEM, "j1") is None


def test_a_workers_run_state_moves_the_cached_job_forward() -> None:
    from dataclasses import replace

    from spt_api.events.messages import JobEvent, RunState, apply_run_state, phase_event
    from spt_api.uws.models import ErrorSummary, ErrorType, JobResult

    queued = replace(_job(ExecutionPhase.QUEUED), parameters=(("message", "x"),), run_id="r1")
    started = replace(queued, phase=ExecutionPhase.EXECUTING, start_time=datetime(2026, 1, 1, 0, 1, tzinfo=UTC),
                      attempts=1, worker_id="w:1")
    done = replace(started, phase=ExecutionPhase.COMPLETED, end_time=datetime(2026, 1, 1, 0, 2, tzinfo=UTC),
                   results=(JobResult("message", "echo/j1/message", "text/plain", 1),))
    failed = replace(started, phase=ExecutionPhase.ERROR, end_time=done.end_time,
                     error=ErrorSummary(ErrorType.FATAL, "no", "trace"))
    # Through JSON, as events travel: the API's copy plus the worker's state equals the worker's job.
    def carried(job: Job) -> RunState:
        state = JobEvent.from_json(phase_event(job, with_state=True).to_json()).state
        assert state is not None
        return state

    assert apply_run_state(queued, carried(started)) == started
    assert apply_run_state(started, carried(done)) == done
    assert apply_run_state(queued, carried(done)) == done  # the EXECUTING event came while uncached
    assert apply_run_state(started, carried(failed)) == failed
    # A late event is no step forward: the caller drops the entry instead.
    assert apply_run_state(done, carried(started)) is None
    assert apply_run_state(started, carried(started)) is None
    assert apply_run_state(replace(queued, phase=ExecutionPhase.ABORTED), carried(started)) is None
