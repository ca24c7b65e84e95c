"""Idempotent submission: a client that retries a POST with the same ``Idempotency-Key`` gets the job
its first try created (303 to it), however many retries race; the same key with other parameters is
a 409 naming that job; keys are per owner."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import httpx
import pytest

from spt_api.config import Settings
from spt_api.db import create_job_store
from spt_api.db.store import DuplicateIdempotencyKeyError
from spt_api.uws.principal import Principal
from tests.api.uws_helpers import JSON, form, job_id_of
from tests.hostile._support import TRUSTED_ORIGIN
from tests.support.principals import ANONYMOUS, SYSTEM
from tests.support.server import RunningServer

#: Retries racing each other with one key.
RACERS = 8


def _post(client: httpx.Client, url: str, key: str | None, pairs: list[tuple[str, str]]) -> httpx.Response:
    kwargs = form(pairs)
    if key is not None:
        kwargs["headers"] = {**kwargs["headers"], "Idempotency-Key": key, **JSON}
    return client.post(url, **kwargs)


def test_a_retry_with_the_same_key_gets_the_same_job(server: RunningServer) -> None:
    key = secrets.token_hex(8)
    pairs = [("message", f"once {key}"), ("PHASE", "RUN")]
    with server.client() as client:
        first = _post(client, server.jobs_url(), key, pairs)
        again = _post(client, server.jobs_url(), key, pairs)
        other = _post(client, server.jobs_url(), secrets.token_hex(8), pairs)
    assert (first.status_code, again.status_code, other.status_code) == (303, 303, 303), again.text
    assert again.headers["Location"] == first.headers["Location"]
    assert other.headers["Location"] != first.headers["Location"]
    job = server.wait_final(first.headers["Location"])
    assert job["phase"] == "COMPLETED", job
    store = server.backends.jobs.store
    jobs = store.list(SYSTEM, service="echo", limit=10_000)
    mine = [j for j in jobs if j.parameters[:1] == (("message", f"once {key}"),)]
    assert len(mine) == 2  # the first try's job and the other key's; the retry made none
    stored = store.get(SYSTEM, job_id_of(first.headers["Location"]))
    assert stored is not None and stored.attempts == 1


def test_the_same_key_with_other_parameters_is_a_conflict(server: RunningServer) -> None:
    key = secrets.token_hex(8)
    with server.client() as client:
        first = _post(client, server.jobs_url(), key, [("message", "first")])
        changed = _post(client, server.jobs_url(), key, [("message", "second")])
    assert first.status_code == 303, first.text
    assert changed.status_code == 409, changed.text
    message = changed.json()["message"]
    assert job_id_of(first.headers["Location"]) in message and "Idempotency-Key" in message, message


def test_racing_retries_with_one_key_make_one_job(server: RunningServer) -> None:
    key = secrets.token_hex(8)
    pairs = [("message", f"race {key}")]

    async def race() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            headers = {**form(pairs)["headers"], "Idempotency-Key": key}
            return await asyncio.gather(
                *(client.post(server.jobs_url(), content=form(pairs)["content"], headers=headers)
                  for _ in range(RACERS))
            )

    responses = asyncio.run(race())
    assert {r.status_code for r in responses} == {303}, [r.text for r in responses]
    assert len({r.headers["Location"] for r in responses}) == 1


def test_an_over_long_key_is_refused(server: RunningServer) -> None:
    with server.client() as client:
        response = _post(client, server.jobs_url(), "k" * 256, [("message", "x")])
    assert response.status_code == 400, response.text
    assert "Idempotency-Key" in response.json()["message"]


def test_keys_are_per_owner(tmp_path: Path) -> None:
    store = create_job_store(Settings(data_dir=tmp_path).effective_database_url)
    try:
        def create(principal: Principal) -> str:
            return store.create(principal, service="echo", parameters=[], execution_duration=60,
                                destruction_time=None, idempotency_key="k", request_hash="h").job_id

        alice, bob = Principal.user("alice"), Principal.user("bob")
        jobs = {create(alice), create(bob), create(ANONYMOUS)}
        assert len(jobs) == 3
        for principal in (alice, bob, ANONYMOUS):
            with pytest.raises(DuplicateIdempotencyKeyError):
                create(principal)
            found = store.find_idempotent(principal, "k")
            assert found is not None and found[0].owner == principal.owner and found[1] == "h"
    finally:
        store.engine.dispose()


def test_a_trusted_origin_may_send_the_key(hostile: RunningServer) -> None:
    """A browser asks first (CORS preflight) whether it may send the header cross-origin."""
    preflight = {"Origin": TRUSTED_ORIGIN, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "idempotency-key"}
    with hostile.client() as client:
        response = client.options(hostile.jobs_url(), headers=preflight)
    assert response.status_code == 204, response.text
    allowed = {name.strip().lower() for name in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert "idempotency-key" in allowed
