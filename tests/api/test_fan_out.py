"""Fan-out: a job split into child jobs run by any worker, merged into one result when the last ends."""

from __future__ import annotations

import time
from types import SimpleNamespace

import httpx

from spt_api.uws.models import Progress
from tests.support.principals import SYSTEM
from tests.support.server import RunningServer
from workers.tasks import _child_ended


def _children(server: RunningServer, job_url: str) -> list[object]:
    job_id = job_url.rstrip("/").rsplit("/", 1)[-1]
    return list(server.backends.jobs.store.children(SYSTEM, job_id))


def test_split_job_merges_children_in_order(server: RunningServer) -> None:
    job_url = server.create_job("echo", run=True, message="part", parts=4)
    job = server.wait_final(job_url)
    assert job["phase"] == "COMPLETED", job
    assert [r["id"] for r in job["results"]] == ["message"]
    with httpx.Client(follow_redirects=True, timeout=30) as client:
        text = client.get(job["results"][0]["href"]).text
    assert text.splitlines() == [f"part [{i}/4]" for i in range(1, 5)]
    assert job["progress"]["done"] == job["progress"]["total"] == 4
    children = _children(server, job_url)
    assert len(children) == 4
    assert all(c.phase.value == "COMPLETED" for c in children)  # type: ignore[attr-defined]
    # Children are not listed: the user sees the one job they made.
    with server.client() as client:
        listed = client.get(server.jobs_url("echo"), headers={"Accept": "application/json"}).json()["jobs"]
    listed_ids = {j["jobId"] for j in listed}
    assert not listed_ids & {c.job_id for c in children}  # type: ignore[attr-defined]


def test_a_late_smaller_count_of_ended_children_leaves_the_parent_at_its_total(server: RunningServer) -> None:
    # Two children ending at once each count the ended ones (3, then 4) and write the count on the parent;
    # the 3 may be written last. Replayed here: the third child's _child_ended runs after the merge.
    job_url = server.create_job("echo", run=True, message="late", parts=4)
    assert server.wait_final(job_url)["phase"] == "COMPLETED"
    parent_id = job_url.rstrip("/").rsplit("/", 1)[-1]
    store = server.backends.jobs.store
    published: list[object] = []
    stale = SimpleNamespace(
        count_children=lambda principal, job_id: (3, 4),  # what it counted before its sibling ended
        set_progress=store.set_progress,
        claim_merge=store.claim_merge,
    )
    runtime = SimpleNamespace(store=stale, events=SimpleNamespace(publish=lambda *a: published.append(a)),
                              worker_id="late-sibling")
    _child_ended(_children(server, job_url)[2], runtime)  # type: ignore[arg-type]
    parent = store.get(SYSTEM, parent_id)
    assert parent is not None and parent.progress is not None
    assert (parent.progress.done, parent.progress.total) == (4, 4), parent.progress
    assert published == []  # nor is the stale count announced to WAIT and the sockets
    # Any other progress is written as it comes (a job's own progress may go back, e.g. on a retry).
    assert store.set_progress(SYSTEM, parent_id, Progress(1, 4, "again"))
    assert not store.set_progress(SYSTEM, parent_id, Progress(1, 4, "again"), forward_only=True)
    assert store.set_progress(SYSTEM, parent_id, Progress(2, 4, "on"), forward_only=True)


def test_failed_child_fails_the_parent(server: RunningServer) -> None:
    job_url = server.create_job("echo", run=True, message="boom", parts=3, fail="true")
    job = server.wait_final(job_url)
    assert job["phase"] == "ERROR"
    assert "ended ERROR" in job["errorSummary"]["message"]


def test_abort_parent_aborts_children(server: RunningServer) -> None:
    job_url = server.create_job("echo", run=True, message="slow", parts=3, delay=30)
    with server.client() as client:
        # Wait until the parent has split (its progress counts parts).
        job = client.get(job_url, params={"WAIT": 10, "PHASE": "QUEUED"}, headers={"Accept": "application/json"}).json()
        assert job["phase"] == "EXECUTING"
        deadline = time.monotonic() + 20
        while len(_children(server, job_url)) < 3:
            assert time.monotonic() < deadline
            client.get(job_url, params={"WAIT": 1})
        response = client.post(f"{job_url}/phase", data={"PHASE": "ABORT"})
        assert response.status_code == 303
    job = server.wait_final(job_url, timeout=20)
    assert job["phase"] == "ABORTED"
    # The children were aborted with the parent, in the same request.
    assert {c.phase.value for c in _children(server, job_url)} <= {"ABORTED", "COMPLETED"}  # type: ignore[attr-defined]


def test_delete_parent_deletes_children(server: RunningServer) -> None:
    job_url = server.create_job("echo", run=True, message="gone", parts=2)
    assert server.wait_final(job_url)["phase"] == "COMPLETED"
    children = _children(server, job_url)
    assert children
    with server.client() as client:
        assert client.delete(job_url).status_code == 303
        assert client.get(job_url).status_code == 404
    assert _children(server, job_url) == []
