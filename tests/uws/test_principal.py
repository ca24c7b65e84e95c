"""Every job-store, cache and event call carries a principal: a user sees only their own jobs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from spt_api.db import JobStore, create_job_store
from spt_api.events import InProcessEventBus
from spt_api.events.messages import phase_event
from spt_api.job_cache import JobCache
from spt_api.uws.errors import NotFoundError
from spt_api.uws.models import Job, utcnow
from spt_api.uws.phases import ExecutionPhase
from spt_api.uws.principal import ANONYMOUS, Principal

ALICE = Principal.user("alice-sub")
BOB = Principal.user("bob-sub")
ADMIN = Principal.user("admin-sub", admin=True)
SYSTEM = Principal.system_actor("tests")


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return create_job_store(f"sqlite:///{tmp_path / 'jobs.sqlite'}")


def _create(store: JobStore, principal: Principal) -> Job:
    return store.create(
        principal, service="echo", parameters=[("message", "x")], execution_duration=60,
        destruction_time=utcnow() + timedelta(days=1),
    )


def test_a_job_belongs_to_its_creator(store: JobStore) -> None:
    assert _create(store, ALICE).owner == "alice-sub"
    assert _create(store, ANONYMOUS).owner is None


def test_another_users_job_does_not_exist_for_them(store: JobStore) -> None:
    job = _create(store, ALICE)
    assert store.get(ALICE, job.job_id) is not None
    assert store.get(BOB, job.job_id) is None
    assert store.get(ANONYMOUS, job.job_id) is None
    with pytest.raises(NotFoundError):
        store.require(BOB, job.job_id)
    with pytest.raises(NotFoundError):
        store.abort(BOB, job.job_id)
    with pytest.raises(NotFoundError):
        store.set_destruction(BOB, job.job_id, utcnow())
    assert store.delete(BOB, job.job_id) is None
    assert store.get(ALICE, job.job_id) is not None


def test_lists_hold_only_the_principals_jobs(store: JobStore) -> None:
    alices = _create(store, ALICE)
    bobs = _create(store, BOB)
    anonymous = _create(store, ANONYMOUS)
    assert [j.job_id for j in store.list_refs(ALICE, service="echo")] == [alices.job_id]
    assert [j.job_id for j in store.list_refs(BOB, service="echo")] == [bobs.job_id]
    assert [j.job_id for j in store.list_refs(ANONYMOUS, service="echo")] == [anonymous.job_id]
    everyone = {alices.job_id, bobs.job_id, anonymous.job_id}
    assert {j.job_id for j in store.list_refs(ADMIN, service="echo")} == everyone
    assert {j.job_id for j in store.list(SYSTEM, service="echo")} == everyone
    # An admin may still ask for one owner's jobs.
    assert [j.job_id for j in store.list_refs(ADMIN, service="echo", owner="bob-sub")] == [bobs.job_id]


def test_the_system_sees_every_job_to_maintain_it(store: JobStore) -> None:
    job = _create(store, ALICE)
    queued = store.queue(ALICE, job.job_id, "task-1")
    claimed = store.claim(SYSTEM, queued.job_id, "worker-1")
    assert claimed is not None and claimed.owner == "alice-sub"
    assert store.count_by_phase(SYSTEM) == {("echo", "EXECUTING"): 1}
    assert store.count_by_phase(BOB) == {}


def test_the_cache_serves_a_job_only_to_who_may_see_it() -> None:
    cache = JobCache(ttl=60)
    job = Job("j1", "echo", "alice-sub", ExecutionPhase.PENDING, utcnow(), 60, None)
    cache.put(job, cache.token())
    assert cache.get(ALICE, "j1") is job
    assert cache.get(BOB, "j1") is None
    assert cache.get(ANONYMOUS, "j1") is None
    assert cache.get(ADMIN, "j1") is job


async def test_events_reach_only_who_may_see_the_job(store: JobStore) -> None:
    bus = InProcessEventBus()
    await bus.start()
    job = _create(store, ALICE)
    with bus.subscribe(ALICE, job.job_id) as alices, bus.subscribe(BOB, job.job_id) as bobs:
        bus.publish(job.job_id, phase_event(job))
        # The same id under Bob's name (no such job is Alice's): only this one may reach Bob.
        bus.publish(job.job_id, phase_event(job).model_copy(update={"owner": "bob-sub"}))
        event = await alices.next(5)
        assert event is not None and event.owner == "alice-sub"
        event = await bobs.next(5)
        assert event is not None and event.owner == "bob-sub"


def test_an_event_from_a_newer_version_still_parses() -> None:
    from spt_api.events.messages import JobEvent

    event = JobEvent.from_json(b'{"type": "phase", "phase": "COMPLETED", "owner": "a", "colour": "blue"}')
    assert (event.type, event.phase, event.owner) == ("phase", "COMPLETED", "a")
