"""One heartbeat thread per worker process beats for exactly the jobs running in it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from workers.heartbeat import Heartbeats


@pytest.fixture
def make_heartbeats() -> Iterator[Callable[[Callable[[str], object]], Heartbeats]]:
    made: list[Heartbeats] = []

    def make(beat: Callable[[str], object]) -> Heartbeats:
        made.append(Heartbeats(beat, interval=0.01))
        return made[-1]

    yield make
    for heartbeats in made:
        heartbeats.close()


class Recorder:
    def __init__(self) -> None:
        self.beats: list[str] = []
        self.threads: set[int] = set()
        self.changed = threading.Condition()

    def beat(self, job_id: str) -> None:
        with self.changed:
            self.beats.append(job_id)
            self.threads.add(threading.get_ident())
            self.changed.notify_all()

    def wait_for(self, job_id: str, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.beats.count(job_id) >= count, timeout=10), self.beats


def test_beats_while_running_and_stops_after(make_heartbeats: Callable[..., Heartbeats]) -> None:
    recorder = Recorder()
    heartbeats = make_heartbeats(recorder.beat)
    with heartbeats.beating("a"):
        recorder.wait_for("a", 2)
    with heartbeats.beating("b"):
        recorder.wait_for("b", 2)
    # The first beat of b comes from a round that began after a ended: no beat of a may follow it.
    first_b = recorder.beats.index("b")
    assert "a" not in recorder.beats[first_b:], recorder.beats


def test_concurrent_jobs_share_one_thread(make_heartbeats: Callable[..., Heartbeats]) -> None:
    recorder = Recorder()
    heartbeats = make_heartbeats(recorder.beat)
    with heartbeats.beating("a"), heartbeats.beating("b"):
        recorder.wait_for("a", 2)
        recorder.wait_for("b", 2)
    assert len(recorder.threads) == 1 and threading.get_ident() not in recorder.threads


def test_a_failing_beat_does_not_stop_the_thread(make_heartbeats: Callable[..., Heartbeats]) -> None:
    recorder = Recorder()
    calls: list[str] = []

    def flaky(job_id: str) -> None:
        calls.append(job_id)
        if len(calls) == 1:
            raise RuntimeError("database blip")
        recorder.beat(job_id)

    heartbeats = make_heartbeats(flaky)
    with heartbeats.beating("a"):
        recorder.wait_for("a", 2)
    assert calls[0] == "a"
