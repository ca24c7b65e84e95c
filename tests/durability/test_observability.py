"""/metrics of an API on the production backends, and JSON logs of a Celery worker with job ids."""

from __future__ import annotations

from collections.abc import Callable

from tests.durability.stack import HEARTBEAT_TIMEOUT, Stack, get_job, json_lines, metric_samples, wait_for
from tests.support.redisserver import PrivateRedis
from tests.support.s3server import SeaweedS3
from tests.support.server import RunningServer


def _metrics(server: RunningServer) -> str:
    with server.client() as client:
        response = client.get(server.base_url + "/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text: str = response.text
    return text


def _metrics_when(server: RunningServer, ready: Callable[[str], bool], what: str) -> str:
    found: list[str] = []

    def check() -> bool:
        text = _metrics(server)
        found[:] = [text]
        return ready(text)

    wait_for(check, 10, what)
    return found[0]


def _value(text: str, name: str, **labels: str) -> float | None:
    for sample_labels, value in metric_samples(text, name):
        if all(sample_labels.get(k) == v for k, v in labels.items()):
            return value
    return None


def test_metrics_and_json_logs(
    make_stack: Callable[..., Stack], machine_db: str, private_redis: PrivateRedis, durability_s3: SeaweedS3
) -> None:
    stack = make_stack(machine_db, private_redis.url_for(3), durability_s3)
    server = stack.server()
    worker = stack.worker(SPT_API_LOG_JSON="true", SPT_API_LOG_LEVEL="INFO")

    # A running job: its worker's heartbeat is visible and fresh.
    running_url = server.create_job("echo", run=True, message="slow", delay=3, steps=3)
    wait_for(lambda: get_job(server, running_url)["phase"] == "EXECUTING", 30, "job running")
    text = _metrics_when(server, lambda t: bool(metric_samples(t, "spt_worker_heartbeat_age_seconds")),
                         "a worker heartbeat in /metrics")
    ages = [value for _labels, value in metric_samples(text, "spt_worker_heartbeat_age_seconds")]
    assert all(0 <= age < HEARTBEAT_TIMEOUT for age in ages), ages
    assert all(labels.get("worker") for labels, _value in metric_samples(text, "spt_worker_heartbeat_age_seconds"))
    assert _value(text, "spt_jobs", service="echo", phase="EXECUTING") == 1

    done = server.wait_final(running_url)
    failed = server.wait_final(server.create_job("echo", run=True, message="no", fail="true"))
    assert (done["phase"], failed["phase"]) == ("COMPLETED", "ERROR")

    text = _metrics(server)
    assert _value(text, "spt_jobs", service="echo", phase="COMPLETED") == 1
    assert _value(text, "spt_jobs", service="echo", phase="ERROR") == 1
    assert _value(text, "spt_queue_depth", queue="echo") == 0
    # HTTP latency by route and status.
    assert (_value(text, "spt_http_request_duration_seconds_count", method="POST", status="303") or 0) >= 2
    assert (_value(text, "spt_http_request_duration_seconds_count", method="GET", status="200") or 0) >= 2
    assert all(labels.get("route") for labels, _v in metric_samples(text, "spt_http_request_duration_seconds_count"))
    # Job durations, observed when the worker's final event arrives.
    text = _metrics_when(
        server, lambda t: bool(_value(t, "spt_job_duration_seconds_count", service="echo", phase="ERROR")),
        "job durations in /metrics",
    )
    assert _value(text, "spt_job_duration_seconds_count", service="echo", phase="COMPLETED") == 1
    assert 3 <= (_value(text, "spt_job_duration_seconds_sum", service="echo", phase="COMPLETED") or 0) < 30
    assert (_value(text, "spt_job_duration_seconds_bucket", service="echo", phase="COMPLETED", le="5.0")) == 1
    # The worker is idle now: no heartbeat series is left behind.
    assert metric_samples(text, "spt_worker_heartbeat_age_seconds") == []

    # JSON log lines of the worker: every line logged while a job ran names the job.
    worker.stop()
    lines = json_lines(worker.log_path.read_text(errors="replace"))
    assert lines, worker.log_tail()
    for job in (done, failed):
        job_id = job["jobId"]
        own = [line for line in lines if line.get("job_id") == job_id]
        events = [line["event"] for line in own]
        assert any(e.startswith("job started") for e in events), events
        assert any(e.startswith("job finished") for e in events), events
        # A line that speaks of the job (e.g. Celery's own) without its id would escape a search by job_id.
        silent = [line for line in lines if job_id in str(line.get("event")) and line.get("job_id") != job_id]
        assert silent == [], silent
    assert any("failed on request" in line["event"] for line in lines if line.get("job_id") == failed["jobId"])


def _duration_count(server: RunningServer) -> float:
    samples = metric_samples(_metrics(server), "spt_job_duration_seconds_count")
    return sum(value for labels, value in samples if labels.get("service") == "echo")


def test_job_durations_are_counted_once_across_replicas(
    make_stack: Callable[..., Stack], machine_db: str, private_redis: PrivateRedis, durability_s3: SeaweedS3
) -> None:
    """Every replica hears every job's final event; only one of them may count its duration."""
    stack = make_stack(machine_db, private_redis.url_for(4), durability_s3)
    replicas = [stack.server(), stack.server()]
    stack.worker()
    job_urls = [replicas[i % 2].create_job("echo", run=True, message=f"m{i}") for i in range(6)]
    for job_url in job_urls:
        assert replicas[0].wait_final(job_url)["phase"] == "COMPLETED"
    # Both replicas have heard all six final events once each has seen a seventh, later job end:
    # events reach a replica in the order they were published.
    last = replicas[1].create_job("echo", run=True, message="last")
    for replica in replicas:
        assert replica.wait_final(last.replace(replicas[1].base_url, replica.base_url))["phase"] == "COMPLETED"
    wait_for(lambda: sum(_duration_count(r) for r in replicas) >= 7, 10, "seven job durations counted")
    counts = [_duration_count(r) for r in replicas]
    assert sum(counts) == 7, counts
