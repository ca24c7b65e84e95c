"""Two concurrent parameter updates of one PENDING job both take effect (none is lost), on both backends."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.api.uws_helpers import JSON, form
from tests.support.server import RunningServer

#: Trials per backend: before the merge became a compare-and-swap, 7 of 30 lost a change on SQLite.
TRIALS = 30


async def _update_twice(base_url: str) -> dict[str, list[str]]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        created = await client.post("/api/echo/jobs", **form([("message", "original")]))
        assert created.status_code == 303, created.text
        job_url = created.headers["Location"]
        first, second = await asyncio.gather(
            client.post(f"{job_url}/parameters", **form([("message", "changed")])),
            client.post(f"{job_url}/parameters", **form([("delay", "7")])),
        )
        assert (first.status_code, second.status_code) == (303, 303), (first.text, second.text)
        job: dict[str, Any] = (await client.get(job_url, headers=JSON)).json()
        await client.delete(job_url)
    return {name: list(values) if isinstance(values, list) else [values] for name, values in job["parameters"].items()}


def test_concurrent_parameter_updates_lose_nothing(server: RunningServer) -> None:
    for _ in range(TRIALS):
        parameters = asyncio.run(_update_twice(server.base_url))
        assert parameters.get("message") == ["changed"], parameters
        assert parameters.get("delay") == ["7"], parameters
