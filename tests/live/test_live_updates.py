"""The live-update WebSockets on both backends: current state first, then each change (made by a
worker process on the Celery stack), reconnects, unknown jobs and the job list of ``/api/events``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.uws_helpers import JSON, job_id_of
from tests.live.ws_client import connect, events_url, next_message, read_until, ws_url
from tests.support.server import RunningServer

pytestmark = pytest.mark.asyncio(loop_scope="session")


def final(message: dict[str, Any]) -> bool:
    return message.get("phase") in ("COMPLETED", "ERROR", "ABORTED")


async def test_job_socket_sends_the_current_state_then_each_change(server: RunningServer) -> None:
    url = server.create_job(message="live", steps=3, delay=0.6)
    conn = await connect(events_url(server, url))
    first = await next_message(conn)
    with server.client() as client:
        document = client.get(url, headers=JSON).json()
        assert first == {
            "type": "job", "service": "echo", "jobId": job_id_of(url), "phase": "PENDING", "progress": None,
            "job": document,
        }
        assert client.post(f"{url}/phase", data={"PHASE": "RUN"}).status_code == 303
    seen = await read_until(conn, final)
    phases = [m["phase"] for m in seen]
    # QUEUED is the API's change; EXECUTING, the progress and COMPLETED come from the worker (a Celery
    # worker process on the production stack, through Redis). Each message shows the job as it is when
    # the message is built, so a worker quicker than the socket may show the QUEUED change as EXECUTING
    # already; never older than a message before it.
    order = ["QUEUED", "EXECUTING", "COMPLETED"]
    assert phases[0] in ("QUEUED", "EXECUTING") and phases[-1] == "COMPLETED", phases
    assert [order.index(p) for p in phases] == sorted(order.index(p) for p in phases), phases
    assert "EXECUTING" in phases
    progress = [m["progress"] for m in seen if m["progress"]]
    assert {"done": 3, "total": 3, "message": "done"} in progress, progress
    last = seen[-1]
    assert last["job"]["phase"] == "COMPLETED"
    assert [r["id"] for r in last["job"]["results"]] and all(
        r["href"].startswith(url + "/results/") for r in last["job"]["results"]
    )
    conn.close()


async def test_a_reconnect_gets_the_current_state_first(server: RunningServer) -> None:
    url = server.create_job(message="again", run=True)
    server.wait_final(url)
    conn = await connect(events_url(server, url))
    first = await next_message(conn)
    assert first is not None and first["phase"] == "COMPLETED" and first["job"]["results"]
    conn.close()


async def test_a_deleted_job_says_so_and_closes(server: RunningServer) -> None:
    url = server.create_job(message="short-lived")
    conn = await connect(events_url(server, url))
    assert (await next_message(conn) or {})["phase"] == "PENDING"
    with server.client() as client:
        assert client.delete(url).status_code == 303
    assert await next_message(conn) == {"type": "deleted", "service": "echo", "jobId": job_id_of(url)}
    assert await next_message(conn) is None and conn.close_code == 1000


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/echo/jobs/no-such-job/events", "no job 'no-such-job'"),
        ("/nosuchservice/jobs/abc/events", "no service 'nosuchservice'; see /api/services"),
    ],
)
async def test_an_unknown_job_closes_with_4404(server: RunningServer, path: str, reason: str) -> None:
    conn = await connect(ws_url(server.base_url, server.settings.base_path + path))
    assert await next_message(conn) is None
    assert (conn.close_code, conn.close_reason) == (4404, reason)


async def test_a_job_of_another_service_is_not_found(server: RunningServer) -> None:
    url = server.create_job(message="echo's")
    path = f"{server.settings.base_path}/cutout/jobs/{job_id_of(url)}/events"
    conn = await connect(ws_url(server.base_url, path))
    assert await next_message(conn) is None and conn.close_code == 4404


async def test_events_socket_sends_my_unfinished_jobs_then_their_changes(server: RunningServer) -> None:
    older = server.create_job(message="older")
    newer = server.create_job(message="newer")
    done = server.create_job(message="finished", run=True)
    server.wait_final(done)
    conn = await connect(events_url(server))
    first = await read_until(conn, lambda m: m["jobId"] == job_id_of(older))
    ids = [m["jobId"] for m in first]
    assert ids.index(job_id_of(newer)) < ids.index(job_id_of(older)), "not newest first"
    assert job_id_of(done) not in ids, "a final job is not current state"
    assert all(m["type"] == "job" and m["phase"] not in ("COMPLETED", "ERROR", "ABORTED") for m in first)

    # A fan-out job: its parts are the service's business, the socket shows the job.
    parent = server.create_job(message="split", parts=2, run=True)
    seen = await read_until(conn, lambda m: m["jobId"] == job_id_of(parent) and final(m))
    assert seen[-1]["phase"] == "COMPLETED"
    with server.client() as client:
        listed = {
            j["jobId"]
            for service in {m["service"] for m in seen}
            for j in client.get(server.jobs_url(service), headers=JSON).json()["jobs"]
        }
    assert {m["jobId"] for m in seen} <= listed, "a part of a job was sent as a job of its own"
    conn.close()


async def test_a_cross_site_page_may_not_open_a_socket(server: RunningServer) -> None:
    from tornado.httpclient import HTTPClientError

    url = events_url(server)
    with pytest.raises(HTTPClientError) as refused:
        await connect(url, Origin="https://evil.example.com")
    assert refused.value.code == 403
    # The server's own pages may.
    own = await connect(url, Origin=server.base_url)
    own.close()


async def test_a_plain_get_of_a_socket_url_is_a_400(server: RunningServer) -> None:
    """Not an upgrade request: Tornado says so, no 500."""
    url = server.create_job(message="plain")
    async with httpx.AsyncClient() as client:
        response = await client.get(url + "/events")
    assert response.status_code == 400  # not an upgrade request
