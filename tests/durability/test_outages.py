"""The API stays up while S3, Redis or PostgreSQL is down, says which one in /health, answers 503
with an error document where a request needs the missing part, and recovers by itself."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from spt_api.db.migrate import migrate
from tests.durability.stack import Stack, get_job, post_form, wait_for
from tests.support.pgserver import PrivatePostgres
from tests.support.redisserver import PrivateRedis
from tests.support.s3server import SeaweedS3
from tests.support.server import RunningServer


def _health(server: RunningServer) -> tuple[int, dict[str, Any]]:
    with server.client() as client:
        response = client.get(server.base_url + "/health", timeout=15)
    body: dict[str, Any] = response.json()
    return response.status_code, body


def _failing(server: RunningServer) -> set[str]:
    status, body = _health(server)
    # The core backends only: a service's own problem (these stacks have no cutout maps) leaves it ready.
    failing = {
        name for name, c in body["components"].items() if c["status"] != "ok" and not name.startswith("service:")
    }
    assert (status == 200) == (not failing), (status, body)
    return failing


def _assert_503_document(response: httpx.Response, *words: str) -> None:
    assert response.status_code == 503, (response.status_code, response.text)
    body = response.json()
    assert body["status"] == 503 and body["error"], body
    for word in words:
        assert word in body["message"], body


def test_s3_outage(
    make_stack: Callable[..., Stack], machine_db: str, private_redis: PrivateRedis, durability_s3: SeaweedS3
) -> None:
    stack = make_stack(machine_db, private_redis.url, durability_s3)
    server = stack.server()
    stack.worker()
    # 8 KiB blobs: above SPT_API_INLINE_RESULT_MAX, they need the storage (a short message is kept with the job).
    done = server.wait_final(server.create_job("echo", run=True, message="stored before", size=8192))
    assert done["phase"] == "COMPLETED"
    assert _failing(server) == set()

    durability_s3.stop()
    try:
        status, body = _health(server)
        assert status == 503, body
        assert body["components"]["storage"]["status"] == "fail", body
        assert body["components"]["storage"]["message"]
        assert {"database", "queue", "events"} <= {n for n, c in body["components"].items() if c["status"] == "ok"}
        with server.client() as client:
            # Presigning is local, but the storage's last known health (just checked by /health) is not:
            # a result link answers 503 rather than a redirect to the dead endpoint.
            blob = next(r for r in done["results"] if r["id"] == "blob")
            response = client.get(blob["href"], headers={"Accept": "application/json"})
        _assert_503_document(response, "storage")

        # Deleting needs the storage: 503, and the job stays (its objects are not orphaned).
        with server.client() as client:
            response = client.delete(done["href"], headers={"Accept": "application/json"})
        _assert_503_document(response, "storage")
        assert get_job(server, done["href"])["phase"] == "COMPLETED"

        # A job cannot store its result: it ends in ERROR and says why.
        failed = server.wait_final(
            server.create_job("echo", run=True, message="nowhere to go", size=8192), timeout=60
        )
        assert failed["phase"] == "ERROR", failed
        message = failed["errorSummary"]["message"]
        assert "storage" in message and "'blob'" in message, message
        assert failed["errorSummary"]["type"] == "transient", failed["errorSummary"]
    finally:
        durability_s3.start()

    wait_for(lambda: _failing(server) == set(), 30, "/health ok again after S3 returned")
    again = server.wait_final(server.create_job("echo", run=True, message="stored after"))
    assert again["phase"] == "COMPLETED"
    with httpx.Client(follow_redirects=True, timeout=30) as client:
        assert client.get(again["results"][0]["href"]).content == b"stored after"
        assert client.get(done["results"][0]["href"]).content == b"stored before"
    # Deleting works again, objects included.
    with server.client() as client:
        assert client.delete(done["href"]).status_code == 303
    assert stack.keys(done["jobId"]) == []


def test_redis_outage(
    make_stack: Callable[..., Stack], machine_db: str, own_redis: PrivateRedis, durability_s3: SeaweedS3
) -> None:
    stack = make_stack(machine_db, own_redis.url, durability_s3)
    server = stack.server()
    worker = stack.worker()
    assert server.wait_final(server.create_job("echo", run=True))["phase"] == "COMPLETED"
    job_url = server.create_job("echo", message="sent late")

    own_redis.stop()
    try:
        wait_for(lambda: {"queue", "events"} <= _failing(server), 15, "/health names the broker and events")
        assert "database" not in _failing(server) and "storage" not in _failing(server)
        with server.client() as client:
            started = time.monotonic()
            response = post_form(client, job_url + "/phase", PHASE="RUN")
            elapsed = time.monotonic() - started
            _assert_503_document(response, "queue")
            assert elapsed < 10, f"503 took {elapsed:.1f} s"
            # The job is QUEUED, not lost; reads need only the database.
            assert get_job(server, job_url)["phase"] == "QUEUED"
            # Created with PHASE=RUN: stored QUEUED; the 503 names the job so it is not submitted twice.
            created = post_form(client, server.jobs_url(), message="created during outage", PHASE="RUN")
            _assert_503_document(created, "queue")
            created_url = created.headers["Location"]
            assert created.json()["href"] == created_url
            assert created.headers["Retry-After"]
            assert get_job(server, created_url)["phase"] == "QUEUED"
            listing = client.get(server.jobs_url(), headers={"Accept": "application/json"})
            assert listing.status_code == 200
    finally:
        own_redis.start()

    wait_for(lambda: _failing(server) == set(), 30, "/health ok again after Redis returned")
    # The reconciler sends the QUEUED job whose message never left; the worker reconnected.
    for url in (job_url, created_url):
        job = server.wait_final(url, timeout=60)
        assert job["phase"] == "COMPLETED", (job, worker.log_tail())
    assert server.wait_final(server.create_job("echo", run=True))["phase"] == "COMPLETED"
    # Events flow again: a WAIT wakes on the change, not on its periodic re-read (every 5 s).
    url = server.create_job("echo", run=True, message="events", delay=2)
    wait_for(lambda: get_job(server, url)["phase"] == "EXECUTING", 30, "job running")
    started = time.monotonic()
    job = get_job(server, url, WAIT=20, PHASE="EXECUTING")
    assert job["phase"] == "COMPLETED"
    assert time.monotonic() - started < 4


def test_postgres_outage(
    make_stack: Callable[..., Stack], own_postgres: PrivatePostgres, private_redis: PrivateRedis,
    durability_s3: SeaweedS3,
) -> None:
    database_url = own_postgres.create_database("spt")
    migrate(database_url)
    stack = make_stack(database_url, private_redis.url_for(2), durability_s3)
    server = stack.server()
    stack.worker()
    job_url = server.wait_final(server.create_job("echo", run=True))["href"]

    own_postgres.stop()
    try:
        with server.client() as client:
            # A job read in the last job_cache_ttl seconds may still come from memory; then 503.
            response = wait_for(
                lambda: (r := client.get(job_url, headers={"Accept": "application/json"})).status_code != 200 and r,
                10,
                "job GET without its database",
            )
            _assert_503_document(response, "database")
            _assert_503_document(client.get(server.jobs_url(), headers={"Accept": "application/json"}), "database")
            _assert_503_document(post_form(client, server.jobs_url(), message="x"), "database")
            _assert_503_document(post_form(client, job_url + "/phase", PHASE="ABORT"), "database")
            # The text/plain error document of DALI for clients that do not ask for JSON.
            plain = client.get(job_url)
            assert plain.status_code == 503 and plain.text.startswith("Error: "), plain.text
            assert client.get(server.base_url + "/health/live").status_code == 200
            assert client.get(server.base_url + "/metrics").status_code == 200
        assert "database" in _failing(server)
    finally:
        own_postgres.start()

    wait_for(lambda: _failing(server) == set(), 30, "/health ok again after PostgreSQL returned")
    assert get_job(server, job_url)["phase"] == "COMPLETED"
    assert server.wait_final(server.create_job("echo", run=True))["phase"] == "COMPLETED"
