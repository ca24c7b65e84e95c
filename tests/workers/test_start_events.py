"""A job's start event is held until its end (one batch, one WAIT wake-up) or for ``start_event_hold`` seconds."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import httpx

from spt_api.events import JobEvent
from tests.api.uws_helpers import JSON
from tests.conftest import embedded_settings
from tests.support.server import serving
from workers.start_events import HeldStartPublisher


def _event(job_id: str, phase: str, kind: str = "phase") -> JobEvent:
    return JobEvent(type=kind, phase=phase, job_id=job_id)


class Recorder:
    """Records what is published, as batches: a batch is one ``publish`` or one ``publish_many``."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[str, str | None, str]]] = []
        self.published = threading.Event()

    def publish(self, job_id: str, event: JobEvent) -> None:
        self.publish_many([(job_id, event)])

    def publish_many(self, events: Sequence[tuple[str, JobEvent]]) -> None:
        self.batches.append([(job_id, event.phase, event.type) for job_id, event in events])
        self.published.set()


def test_a_short_job_announces_start_and_end_in_one_batch() -> None:
    recorder = Recorder()
    publisher = HeldStartPublisher(recorder, hold=30)
    publisher.hold_start("a", _event("a", "EXECUTING"))
    assert recorder.batches == []
    publisher.publish("a", _event("a", "COMPLETED"))
    assert recorder.batches == [[("a", "EXECUTING", "phase"), ("a", "COMPLETED", "phase")]]


def test_any_later_event_of_the_job_releases_its_start_first() -> None:
    recorder = Recorder()
    publisher = HeldStartPublisher(recorder, hold=30)
    publisher.hold_start("a", _event("a", "EXECUTING"))
    publisher.publish("b", _event("b", "QUEUED"))  # another job's event: a stays held
    publisher.publish("a", _event("a", "EXECUTING", kind="progress"))
    publisher.publish("a", _event("a", "COMPLETED"))
    assert recorder.batches == [
        [("b", "QUEUED", "phase")],
        [("a", "EXECUTING", "phase"), ("a", "EXECUTING", "progress")],
        [("a", "COMPLETED", "phase")],
    ]


def test_a_job_still_running_has_its_start_announced_after_the_hold() -> None:
    recorder = Recorder()
    publisher = HeldStartPublisher(recorder, hold=0.05)
    publisher.hold_start("long", _event("long", "EXECUTING"))
    assert recorder.published.wait(10), "the held start was never announced"
    assert recorder.batches == [[("long", "EXECUTING", "phase")]]
    # The end, later, goes alone; the start is not sent twice.
    publisher.publish("long", _event("long", "COMPLETED"))
    assert recorder.batches[-1] == [("long", "COMPLETED", "phase")]
    assert len(recorder.batches) == 2


def test_a_job_ended_by_someone_else_drops_its_held_start() -> None:
    """Aborted meanwhile: the API announced ABORTED; a start after that would be a stale event."""
    recorder = Recorder()
    publisher = HeldStartPublisher(recorder, hold=0.05)
    publisher.hold_start("aborted", _event("aborted", "EXECUTING"))
    publisher.drop("aborted")
    publisher.hold_start("other", _event("other", "EXECUTING"))
    assert recorder.published.wait(10)
    assert recorder.batches == [[("other", "EXECUTING", "phase")]]


def test_no_hold_announces_at_once() -> None:
    recorder = Recorder()
    publisher = HeldStartPublisher(recorder, hold=0)
    publisher.hold_start("a", _event("a", "EXECUTING"))
    assert recorder.batches == [[("a", "EXECUTING", "phase")]]


def test_a_wait_on_a_short_job_wakes_once_at_its_end(tmp_path: Path) -> None:
    """With the start held (a second: far longer than an echo job), the first WAIT on a QUEUED echo job
    answers COMPLETED: start and end arrive together, and the WAIT reports the job as it is."""
    settings = embedded_settings(tmp_path, start_event_hold=1.0)
    with serving(settings) as server, httpx.Client(timeout=60) as client:
        for _ in range(5):
            url = server.create_job(run=True, message="short")
            first = client.get(url, params={"WAIT": 25, "PHASE": "QUEUED"}, headers=JSON).json()
            assert first["phase"] == "COMPLETED", first
