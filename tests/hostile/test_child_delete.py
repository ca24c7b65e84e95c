"""A fan-out child cannot be deleted on its own: its parent would end COMPLETED with a part missing."""

from __future__ import annotations

from tests.api.uws_helpers import JSON, get_job, job_id_of
from tests.support._proc import wait_until
from tests.support.principals import SYSTEM
from tests.support.server import RunningServer

PARTS = 4


def test_deleting_a_child_is_refused_and_the_parent_keeps_every_part(server: RunningServer) -> None:
    job_url = server.create_job("echo", run=True, message="part", parts=PARTS, delay=1.0, steps=4)
    parent_id = job_id_of(job_url)
    store = server.backends.jobs.store
    children = wait_until(
        lambda: store.children(SYSTEM, parent_id), timeout=30, what="the parent's children", error=AssertionError
    )
    child_url = f"{server.jobs_url('echo')}/{children[0].job_id}"
    with server.client() as client:
        assert get_job(client, child_url)["jobId"] == children[0].job_id  # reachable, so deletable by URL
        for response in (
            client.delete(child_url, headers=JSON),
            client.post(child_url, data={"ACTION": "DELETE"}, headers=JSON),
        ):
            assert response.status_code == 403, response.text
            message = response.json()["message"]
            assert parent_id in message and "delete" in message.lower(), message
    job = server.wait_final(job_url, timeout=60)
    assert job["phase"] == "COMPLETED", job
    assert store.get(SYSTEM, children[0].job_id) is not None
    with server.client() as client:
        message = client.get(f"{job_url}/results/message", follow_redirects=True)
    assert message.text.splitlines() == [f"part [{i + 1}/{PARTS}]" for i in range(PARTS)]
