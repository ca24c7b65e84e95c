"""A mixed UWS workload for locust: each user runs echo jobs the way a script does, one after another.

One iteration: submit (POST PHASE=RUN, 303), WAIT (GET …?WAIT=30 until the job is final), list (the
user's newest 20 jobs), read the result (its bytes must be the job's own message), DELETE (303). Each
request type is its own row in locust's statistics. Users think 0.5-1.5 s between iterations.

Run it through ``python bench/load.py mixed`` (starts the API, a worker, PostgreSQL and Redis, then
locust headless), or by hand against a running server:
    locust -f bench/locustfile.py --headless -u 50 -r 10 -t 60s --host http://127.0.0.1:PORT --csv out/mixed
"""

from __future__ import annotations

import itertools
import json
from urllib.parse import urlsplit

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

JSON = {"Accept": "application/json"}
FORM = {**JSON, "Content-Type": "application/x-www-form-urlencoded"}
FINAL = {"COMPLETED", "ERROR", "ABORTED", "ARCHIVED"}
_serial = itertools.count()


class UwsScript(FastHttpUser):
    """geventhttpclient rather than requests: the load generator shares two cores with the server."""

    wait_time = between(0.5, 1.5)

    @task
    def job_life(self) -> None:
        message = f"u{next(_serial)}"
        with self.client.post("/api/echo/jobs", data=f"message={message}&PHASE=RUN", headers=FORM,
                              allow_redirects=False, name="submit", catch_response=True) as response:
            if response.status_code != 303:
                response.failure(f"submit: {response.status_code} {response.text[:200]}")
                return
            job = urlsplit(response.headers["Location"]).path
        phase = "QUEUED"
        for _ in range(6):
            with self.client.get(f"{job}?WAIT=30", headers=JSON, name="wait", catch_response=True) as response:
                if response.status_code != 200:
                    response.failure(f"wait: {response.status_code}")
                    return
                phase = json.loads(response.text)["phase"]
            if phase in FINAL:
                break
        if phase != "COMPLETED":
            self.environment.events.request.fire(
                request_type="JOB", name="not COMPLETED", response_time=0, response_length=0,
                exception=RuntimeError(f"job {job} ended {phase}"), context={})
            return
        with self.client.get("/api/echo/jobs?LAST=20", headers=JSON, name="list", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"list: {response.status_code}")
        with self.client.get(f"{job}/results/message", name="result", catch_response=True) as response:
            if response.status_code != 200 or response.text != message:
                response.failure(f"result: {response.status_code} {response.text[:100]!r} != {message!r}")
        with self.client.delete(job, headers=JSON, allow_redirects=False, name="delete",
                                catch_response=True) as response:
            if response.status_code != 303:
                response.failure(f"delete: {response.status_code} {response.text[:200]}")
