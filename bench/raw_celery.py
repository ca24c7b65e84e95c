"""The baseline for bench/roundtrip.py: a plain Celery app with a no-op task on the same broker."""

from __future__ import annotations

import os

from celery import Celery

broker = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")
app = Celery("bench_raw", broker=broker, backend=broker)
app.conf.update(task_serializer="json", accept_content=["json"], worker_prefetch_multiplier=1, task_acks_late=True)


@app.task(name="bench.noop")
def noop(job_id: str) -> str:
    return job_id
