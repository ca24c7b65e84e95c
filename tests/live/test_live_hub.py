"""The pieces under the sockets, without a server: bounded subscriptions, the every-job subscription,
and the hub's memory of built messages."""

from __future__ import annotations

from typing import Any

import pytest

import spt_api.live
from spt_api.events import InProcessEventBus, JobEvent
from spt_api.job_render import JobLinks
from spt_api.live import LiveHub
from spt_api.uws.models import Job
from spt_api.uws.principal import Principal

pytestmark = pytest.mark.asyncio(loop_scope="session")

ALICE = Principal.user("alice")
BOB = Principal.user("bob")


def event(job_id: str, owner: str | None, kind: str = "phase", **values: Any) -> JobEvent:
    return JobEvent.model_validate({"type": kind, "job_id": job_id, "service": "echo", "owner": owner, **values})


async def test_a_bounded_subscription_overflows_once_and_then_holds_nothing_more() -> None:
    bus = InProcessEventBus()
    overflows: list[int] = []
    with bus.subscribe(ALICE, "j1", limit=3, on_overflow=lambda: overflows.append(1)) as sub:
        for i in range(100):
            bus.publish("j1", event("j1", "alice", "progress", done=i, total=100))
        assert sub.queue.qsize() == 3
        assert overflows == [1] and sub.overflowed


async def test_an_unbounded_subscription_still_takes_every_event() -> None:
    bus = InProcessEventBus()
    with bus.subscribe(ALICE, "j1") as sub:
        for i in range(1000):
            bus.publish("j1", event("j1", "alice", "progress", done=i, total=1000))
        assert sub.queue.qsize() == 1000 and not sub.overflowed


async def test_the_every_job_subscription_sees_only_my_jobs_and_names_a_parts_parent() -> None:
    bus = InProcessEventBus()
    with bus.subscribe_all(ALICE) as alices, bus.subscribe_all(BOB) as bobs:
        bus.publish("a1", event("a1", "alice"))
        bus.publish("b1", event("b1", "bob"))
        # A part's progress is published on its parent's channel, naming the part.
        bus.publish("a2", event("a2-part-1", "alice", "progress", done=1, total=2))
        assert bus.subscriber_count() == 2
    assert [e.job_id for e in [alices.queue.get_nowait() for _ in range(alices.queue.qsize())]] == ["a1", "a2"]
    assert [bobs.queue.get_nowait().job_id] == ["b1"] and bobs.queue.empty()
    assert bus.subscriber_count() == 0


async def test_the_hub_remembers_a_bounded_number_of_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spt_api.live, "MESSAGE_MEMO_BYTES", 10_000)
    built: list[str] = []

    async def build(self: LiveHub, job_id: str, event: JobEvent, links: JobLinks) -> tuple[Job | None, bytes]:
        built.append(job_id)
        return None, b"x" * 1000

    monkeypatch.setattr(LiveHub, "_build", build)
    hub = LiveHub(jobs=None)  # type: ignore[arg-type]
    links = JobLinks("http://localhost", "/api")
    events = [event(f"j{i}", None) for i in range(100)]
    for e in events:
        assert (await hub.message(e.job_id or "", e, links))[1] == b"x" * 1000
    # Every socket holding the same event shares one build.
    await hub.message("j99", events[-1], links)
    assert built.count("j99") == 1
    held = sum(len(task.result()[1]) for _, task in hub._memo.values() if task.done())
    assert held <= 11_000, held
