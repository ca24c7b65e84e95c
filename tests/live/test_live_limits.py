"""The live-update sockets at their limits (embedded backend): a client too slow to read (4408, the
server's memory bounded), 500 sockets on one process, shutdown (1001), and authentication by a
bearer token in the first message (4401, 4403, another user's job 4404)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

import spt_api.handlers.live
from spt_api.app import Backends
from spt_api.auth import AuthUnavailable, InvalidToken, NotAuthorised
from spt_api.events.messages import progress_event
from spt_api.uws.models import Job
from spt_api.uws.principal import Principal
from tests.api.uws_helpers import job_id_of
from tests.conftest import embedded_settings
from tests.live.ws_client import RawSocket, connect, events_path, events_url, next_message, read_until, ws_url
from tests.support._proc import wait_until
from tests.support.principals import SYSTEM
from tests.support.server import RunningServer, serving, start_server

pytestmark = pytest.mark.asyncio(loop_scope="session")

#: Events held for a socket in these tests: small, so the slow client overflows quickly.
QUEUE_SIZE = 8
SOCKETS = 500


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = embedded_settings(
        tmp_path_factory.mktemp("live"), ws_queue_size=QUEUE_SIZE, cors_origins="https://app.example.org"
    )
    with serving(settings) as running:
        yield running


def on_server(server: RunningServer, coro: Any) -> Any:
    future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, server.loop)
    return future.result(timeout=60)


# -- a client too slow to read ---------------------------------------------------------------------


async def test_a_client_that_never_reads_is_closed_with_4408_and_costs_no_memory(live_server: RunningServer) -> None:
    url = live_server.create_job(message="x" * 10_000)  # a 10 kB document per message
    job: Job = live_server.backends.jobs.store.require(SYSTEM, job_id_of(url))
    bus = live_server.backends.jobs.events
    before = bus.subscriber_count()
    address = urlparse(live_server.base_url)
    raw = RawSocket(address.hostname or "", address.port or 0, events_path(live_server, url))
    try:
        wait_until(lambda: bus.subscriber_count() > before, timeout=10, what="the socket subscribed")
        rss_before = rss_bytes()
        # 30,000 changes of 2 kB each: held for this client, they would take about 100 MB.
        for i in range(30_000):
            bus.publish(job.job_id, progress_event(job, i, 30_000, "m" * 2000))
        wait_until(
            lambda: bus.subscriber_count() == before, timeout=30, what="the slow socket's subscription closed"
        )
        growth = rss_bytes() - rss_before
        print(f"\nslow client: RSS grew {growth / 1e6:.1f} MB over 30,000 events of 2 kB")
        assert growth < 30e6, f"RSS grew {growth / 1e6:.0f} MB while a client did not read"
        # The client reads at last: what was sent before, then the close, with its code.
        messages, code = raw.read_to_close()
        assert code == 4408
        assert 1 <= messages < 30_000
    finally:
        raw.close()
    assert "spt_websockets_too_slow_total 1.0" in httpx.get(live_server.base_url + "/metrics").text


async def test_a_trusted_origin_may_open_a_socket_and_others_not(live_server: RunningServer) -> None:
    from tornado.httpclient import HTTPClientError

    url = events_url(live_server)
    for trusted in ("https://app.example.org", "HTTPS://App.Example.org/"):  # in SPT_API_CORS_ORIGINS
        conn = await connect(url, Origin=trusted)
        conn.close()
    for origin in ("https://app.example.org.evil.com", "http://app.example.org", "null"):
        with pytest.raises(HTTPClientError) as refused:
            await connect(url, Origin=origin)
        assert refused.value.code == 403, origin


# -- 500 sockets -----------------------------------------------------------------------------------


async def test_500_sockets_on_one_process_all_get_one_change(live_server: RunningServer) -> None:
    url = live_server.create_job(message="watched by many")
    socket_url = events_url(live_server, url)
    rss_before = rss_bytes()
    conns = []
    for _ in range(0, SOCKETS, 50):
        conns += await asyncio.gather(*(connect(socket_url) for _socket in range(50)))
    firsts = await asyncio.gather(*(next_message(c) for c in conns))
    assert all(m is not None and m["phase"] == "PENDING" for m in firsts)
    rss_open = rss_bytes()
    assert live_server.backends.live.open_count >= SOCKETS
    async with httpx.AsyncClient() as client:
        metrics = (await client.get(live_server.base_url + "/metrics")).text
    gauge = next(line for line in metrics.splitlines() if line.startswith("spt_websockets_open "))
    assert float(gauge.split()[1]) >= SOCKETS

    async def changed(conn: Any) -> float:
        message = await next_message(conn, timeout=60)
        assert message is not None and message["phase"] != "PENDING"
        return time.perf_counter()

    receivers = [asyncio.ensure_future(changed(c)) for c in conns]
    started = time.perf_counter()
    async with httpx.AsyncClient() as client:
        assert (await client.post(f"{url}/phase", data={"PHASE": "RUN"})).status_code == 303
    arrivals = await asyncio.gather(*receivers)
    latencies = sorted(t - started for t in arrivals)
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"\n{SOCKETS} sockets, one change: fan-out p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms; RSS +{(rss_open - rss_before) / 1e6:.1f} MB for the open sockets "
        "(server and clients in this one process; bench/websockets.py measures the server alone)"
    )
    assert len(arrivals) == SOCKETS
    assert p99 < 10, "the change took over 10 s to reach 99% of the sockets"
    for conn in conns:
        conn.close()
    wait_until(lambda: live_server.backends.live.open_count == 0, timeout=30, what="the sockets closed")


# -- shutdown --------------------------------------------------------------------------------------


async def test_shutdown_closes_the_sockets_with_1001(tmp_path: Path) -> None:
    server, stop = start_server(embedded_settings(tmp_path, embedded_pool_size=1))
    url = server.create_job(message="until shutdown")
    conn = await connect(events_url(server, url))
    assert (await next_message(conn) or {})["phase"] == "PENDING"
    stopping = asyncio.get_running_loop().run_in_executor(None, stop)
    assert await next_message(conn) is None
    assert (conn.close_code, conn.close_reason) == (1001, "server shutting down")
    await stopping


# -- authentication by the first message ----------------------------------------------------------


ALICE = Principal.user("alice-sub")
BOB = Principal.user("bob-sub")


class StubAuthenticator:
    """Stands in for spt_api.auth's Authenticator, raising its errors (tests/live/test_live_auth.py uses
    the real one against the OIDC stand-in)."""

    async def stop(self) -> None:
        """Nothing to stop (the real one stops its key refresher)."""

    async def principal_from_bearer(self, token: str) -> Principal:
        match token:
            case "alice-token":
                return ALICE
            case "bob-token":
                return BOB
            case "no-role":
                raise NotAuthorised("the token lacks the user role")
            case "keycloak-down":
                raise AuthUnavailable("no keys")
            case _:
                raise InvalidToken("bad signature")


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    def configure(backends: Backends) -> None:
        backends.authenticator = StubAuthenticator()  # type: ignore[assignment]

    settings = embedded_settings(tmp_path_factory.mktemp("live-auth"), embedded_pool_size=1)
    with serving(settings, configure=configure) as running:
        yield running


def create_as(server: RunningServer, principal: Principal, run: bool = False) -> Job:
    jobs = server.backends.jobs
    job: Job = on_server(server, jobs.create(principal, "echo", [("message", "mine")]))
    if run:
        job = on_server(server, jobs.run(principal, job))
    return job


async def authenticated(url: str, token: str | None) -> Any:
    conn = await connect(url)
    if token is not None:
        await conn.write_message(f'{{"type": "auth", "token": "{token}"}}')
    return conn


@pytest.mark.parametrize(
    ("first_message", "code"),
    [
        ('{"type": "auth", "token": "forged"}', 4401),
        ('{"type": "auth", "token": ""}', 4401),
        ('{"type": "hello"}', 4401),
        ("not json", 4401),
        ('{"type": "auth", "token": "no-role"}', 4403),
        ('{"type": "auth", "token": "keycloak-down"}', 1013),
    ],
)
async def test_a_bad_first_message_closes_the_socket(auth_server: RunningServer, first_message: str, code: int) -> None:
    conn = await connect(events_url(auth_server))
    await conn.write_message(first_message)
    assert await next_message(conn) is None
    assert conn.close_code == code, conn.close_reason


async def test_a_silent_client_is_closed_with_4401(
    auth_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spt_api.handlers.live, "AUTH_MESSAGE_TIMEOUT", 0.5)
    conn = await connect(events_url(auth_server))
    assert await next_message(conn) is None
    assert conn.close_code == 4401


async def test_another_users_job_is_4404_and_their_changes_never_reach_me(auth_server: RunningServer) -> None:
    mine, theirs = create_as(auth_server, ALICE), create_as(auth_server, BOB)
    base = auth_server.settings.base_path

    def job_url(job: Job) -> str:
        return ws_url(auth_server.base_url, f"{base}/echo/jobs/{job.job_id}/events")

    conn = await authenticated(job_url(theirs), "alice-token")
    assert await next_message(conn) is None
    assert (conn.close_code, conn.close_reason) == (4404, f"no job {theirs.job_id!r}")

    own = await authenticated(job_url(mine), "alice-token")
    assert (await next_message(own) or {})["jobId"] == mine.job_id

    everything = await authenticated(events_url(auth_server), "alice-token")
    current = await read_until(everything, lambda m: m["jobId"] == mine.job_id)
    assert theirs.job_id not in {m["jobId"] for m in current}
    # Bob's job runs to its end, then mine: only mine is seen.
    create_as(auth_server, BOB, run=True)
    on_server(auth_server, auth_server.backends.jobs.run(BOB, theirs))
    finished = on_server(auth_server, auth_server.backends.jobs.wait_final(BOB, "echo", theirs.job_id, 30))
    assert finished.phase.value == "COMPLETED"
    on_server(auth_server, auth_server.backends.jobs.run(ALICE, mine))
    seen = await read_until(everything, lambda m: m["jobId"] == mine.job_id and m["phase"] == "COMPLETED")
    assert {m["jobId"] for m in seen} == {mine.job_id}
    assert {m["job"]["ownerId"] for m in seen} == {"alice-sub"}
    for c in (own, everything):
        c.close()
