"""ProcessThread: one live thread per process, started again after it ended and in a forked child."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from workers.process_thread import ProcessThread


def test_one_thread_while_it_lives_and_a_new_one_after_it_ended() -> None:
    starts: list[str] = []
    release = threading.Event()

    def target() -> None:
        starts.append(threading.current_thread().name)
        release.wait(10)

    thread = ProcessThread(target, "probe")
    thread.ensure()
    thread.ensure()
    assert thread._thread is not None
    running = thread._thread
    release.set()
    running.join(10)
    assert starts == ["probe"] and not running.is_alive()
    release.clear()
    thread.ensure()
    assert thread._thread is not running
    release.set()
    thread._thread.join(10)
    assert starts == ["probe", "probe"]


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_a_forked_child_starts_its_own() -> None:
    stop = threading.Event()
    started = threading.Event()

    def target() -> None:
        started.set()
        stop.wait(10)

    thread = ProcessThread(target, "probe")
    thread.ensure()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's thread is not here, ensure() starts one
        started.clear()
        thread.ensure()
        os.write(write, b"1" if started.wait(10) else b"0")
        stop.set()
        os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 1) == b"1"
    finally:
        os.waitpid(pid, 0)
        os.close(read)
        stop.set()
