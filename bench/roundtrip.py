"""Submit-to-COMPLETED of a no-op ``echo`` job: p50/p95 and jobs/s, against the raw path.

- embedded: POST (PHASE=RUN) → WAIT → COMPLETED through HTTP + SQLite + the process pool (the HTTP
  clients in a process of their own, as the API's clients are), against the task function called
  through the same pool (store + dispatcher, no HTTP).
- celery: through HTTP + PostgreSQL + Celery/Redis with 2 worker processes, against raw
  Celery ``apply_async().get()`` of a no-op task on the same broker with 2 worker processes.

Usage: python bench/roundtrip.py [--backend embedded|celery|both] [--jobs 200] [--concurrency 8]
Goals (celery): p50 <= 1.25x the protocol floor, CPU per job <= 1.25x the CPU floor, throughput >= 0.8 of
the ceiling; DALI sync p50 <= 1.25x its own floor. Embedded: p50 <= 1.25x and throughput >= 0.8 of the pool.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from _common import ROOT, CpuMeter, percentile, report  # type: ignore[import-not-found]

from spt_api.config import Settings
from tests.support.principals import ANONYMOUS, SYSTEM


class JobClient:
    """A keep-alive client running echo jobs the way a script would: POST PHASE=RUN, then WAIT until done.

    http.client rather than httpx: the load generator shares the machine's two cores with the system
    under test, and httpx spends about twice its CPU per request.
    """

    #: WAIT requests and jobs run, by all clients: how often a WAIT woke before the job's end.
    waits = 0
    jobs = 0

    def __init__(self, jobs_url: str) -> None:
        parts = urlsplit(jobs_url)
        self.path = parts.path
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)

    def _request(self, method: str, path: str, body: str | None = None) -> http.client.HTTPResponse:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        response.read()
        return response

    def run_one(self) -> float:
        start = time.perf_counter()
        response = self._request("POST", self.path, "message=x&PHASE=RUN")
        assert response.status == 303, response.status
        job_path = urlsplit(response.headers["Location"]).path
        phase = "QUEUED"
        while phase in ("PENDING", "QUEUED", "EXECUTING"):
            self.conn.request("GET", f"{job_path}?WAIT=30", headers={"Accept": "application/json"})
            phase = json.loads(self.conn.getresponse().read())["phase"]
            JobClient.waits += 1
        JobClient.jobs += 1
        assert phase == "COMPLETED", phase
        return time.perf_counter() - start


class SyncClient:
    """A keep-alive client of DALI sync: ``GET /api/echo/sync?message=x`` answers the result itself."""

    def __init__(self, sync_url: str) -> None:
        parts = urlsplit(sync_url)
        self.path = f"{parts.path}?message=x"
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)

    def run_one(self) -> float:
        start = time.perf_counter()
        self.conn.request("GET", self.path)
        response = self.conn.getresponse()
        body = response.read()
        assert response.status == 200 and body == b"x", (response.status, body)
        return time.perf_counter() - start


def _client_per_thread(jobs_url: str) -> Any:
    local = threading.local()

    def one() -> float:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = JobClient(jobs_url)
        return client.run_one()  # type: ignore[no-any-return]

    return one


def _run_jobs(one: Any, sequential: int, jobs: int, concurrency: int) -> tuple[list[float], float]:
    """Latencies of ``sequential`` runs of ``one``, then the seconds ``jobs`` runs took ``concurrency`` at once."""
    latencies = [one() for _ in range(sequential)]
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: one(), range(jobs)))
    return latencies, time.perf_counter() - start


def _remote_clients(jobs_url: str, commands: Any, answers: Any) -> None:
    """The body of :class:`RemoteJobClients`' process: runs what it is asked, answers the timings."""
    one = _client_per_thread(jobs_url)
    while (command := commands.get()) is not None:
        sequential, jobs, concurrency = command
        JobClient.waits = JobClient.jobs = 0
        latencies, seconds = _run_jobs(one, sequential, jobs, concurrency)
        answers.put((latencies, seconds, JobClient.waits, JobClient.jobs))


class RemoteJobClients:
    """:class:`JobClient` threads in a process of their own, for a server running in the bench's process
    (embedded): clients in the server's interpreter would take the GIL from it, which no deployed client
    does, while the yardstick beside it (the task through the pool) has no client at all."""

    def __init__(self, jobs_url: str) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.commands = ctx.Queue()
        self.answers = ctx.Queue()
        self.process = ctx.Process(target=_remote_clients, args=(jobs_url, self.commands, self.answers), daemon=True)
        self.process.start()

    def run(self, sequential: int, jobs: int, concurrency: int) -> tuple[list[float], float]:
        self.commands.put((sequential, jobs, concurrency))
        latencies, seconds, waits, done = self.answers.get(timeout=600)
        JobClient.waits += waits
        JobClient.jobs += done
        return latencies, seconds

    def close(self) -> None:
        self.commands.put(None)
        self.process.join(30)


def measure(
    one: Any, jobs: int, concurrency: int, meter: CpuMeter | None = None
) -> tuple[list[float], float, dict[str, float]]:
    """Latencies of ``jobs`` sequential runs, then jobs/s with ``concurrency`` in flight (and the CPU
    milliseconds per job each process group spent meanwhile). ``one``: runs one job, or a
    :class:`RemoteJobClients`."""
    run = one.run if isinstance(one, RemoteJobClients) else functools.partial(_run_jobs, one)
    latencies = run(max(20, jobs // 4), 0, 1)[0]
    if meter:
        meter.start()
    rate = jobs / run(0, jobs, concurrency)[1]
    cpu = {group: seconds * 1000 / jobs for group, seconds in meter.stop().items()} if meter else {}
    return latencies, rate, cpu


class Comparison:
    """spt-api against the raw path in interleaved rounds: the machine's other load drifts, so each
    ratio compares neighbours, and the medians of the rounds are reported."""

    def __init__(self, api_one: Any, raw_one: Any, args: argparse.Namespace, meter: CpuMeter | None = None) -> None:
        self.api_lat: list[float] = []
        self.raw_lat: list[float] = []
        self.p50_ratios: list[float] = []
        self.rate_ratios: list[float] = []
        self.api_rates: list[float] = []
        self.raw_rates: list[float] = []
        self.api_cpu: dict[str, list[float]] = {}
        self.raw_cpu: dict[str, list[float]] = {}
        JobClient.waits = JobClient.jobs = 0
        for _ in range(args.rounds):
            raw_lat, raw_rate, raw_cpu = measure(raw_one, args.jobs, args.concurrency, meter)
            api_lat, api_rate, api_cpu = measure(api_one, args.jobs, args.concurrency, meter)
            self.raw_lat += raw_lat
            self.api_lat += api_lat
            self.raw_rates.append(raw_rate)
            self.api_rates.append(api_rate)
            self.p50_ratios.append(percentile(api_lat, 50) / percentile(raw_lat, 50))
            self.rate_ratios.append(api_rate / raw_rate)
            for group, ms in api_cpu.items():
                self.api_cpu.setdefault(group, []).append(ms)
            for group, ms in raw_cpu.items():
                self.raw_cpu.setdefault(group, []).append(ms)
        self.waits_per_job = JobClient.waits / max(1, JobClient.jobs)

    def rows(self, title: str) -> list[tuple[str, str]]:
        api_p50, raw_p50 = percentile(self.api_lat, 50), percentile(self.raw_lat, 50)
        rounds = ", ".join(f"{r:.2f}" for r in self.p50_ratios)
        rate_rounds = ", ".join(f"{r:.2f}" for r in self.rate_ratios)
        return [
            (title, ""),
            ("  spt-api p50 / p95", f"{api_p50 * 1000:7.1f} / {percentile(self.api_lat, 95) * 1000:7.1f} ms"),
            ("  raw     p50 / p95", f"{raw_p50 * 1000:7.1f} / {percentile(self.raw_lat, 95) * 1000:7.1f} ms"),
            ("  p50 ratio (spt-api / raw), median of rounds", f"{statistics.median(self.p50_ratios):5.2f}x ({rounds})"),
            ("  spt-api jobs/s", f"{statistics.median(self.api_rates):7.1f}"),
            ("  raw     jobs/s", f"{statistics.median(self.raw_rates):7.1f}"),
            ("  throughput ratio, median of rounds", f"{statistics.median(self.rate_ratios):5.2f} ({rate_rounds})"),
            ("  WAIT requests per spt-api job (1: the first WAIT saw the end)", f"{self.waits_per_job:5.2f}"),
        ]

    def cpu(self) -> tuple[dict[str, float], dict[str, float]]:
        """Median CPU milliseconds per job of each process group, spt-api and raw."""
        return ({g: statistics.median(v) for g, v in self.api_cpu.items()},
                {g: statistics.median(v) for g, v in self.raw_cpu.items()})


def _step_cost(action: Any, meter: CpuMeter, rounds: int = 1000) -> tuple[float, float]:
    """p50 milliseconds of ``action``, and the CPU milliseconds it costs all processes together."""
    for _ in range(20):
        action()
    timings = []
    meter.start()
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    cpu = sum(meter.stop().values())
    return percentile(timings, 50) * 1000, cpu * 1000 / rounds


def protocol_floor(
    database_url: str, broker: str, trivial_url: str, meter: CpuMeter
) -> dict[str, tuple[float, float]]:
    """p50 and CPU (ms) of each step a UWS job must take beyond raw Celery, done with the bare libraries.

    A UWS client cannot learn of completion with the one round trip of ``AsyncResult.get()``: the job is
    stored before it is sent (the POST exchange and an INSERT), and WAIT must return at each phase change
    (UWS §2.2.1.2), so QUEUED → EXECUTING costs an UPDATE, a PUBLISH and one more exchange. The rest
    (the completing UPDATE, its event) overlaps the client's next request, so it is left out: a floor.
    """
    import psycopg
    import redis

    from spt_api.db.migrate import sqlalchemy_url

    dsn = sqlalchemy_url(database_url).replace("postgresql+psycopg://", "postgresql://")
    publisher = redis.Redis.from_url(broker)
    parts = urlsplit(trivial_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    inserted = iter(range(10**9))
    updated = iter(range(10**9))

    def exchange() -> None:
        connection.request("GET", parts.path)
        connection.getresponse().read()

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE floor_jobs (job_id text PRIMARY KEY, phase text NOT NULL, "
                     "parameters jsonb NOT NULL, creation_time timestamptz NOT NULL DEFAULT now())")
        conn.execute("CREATE INDEX ON floor_jobs (phase, creation_time)")

        def insert() -> None:
            conn.execute("INSERT INTO floor_jobs (job_id, phase, parameters) VALUES (%s, 'QUEUED', %s)",
                         (f"j{next(inserted)}", '[["message", "x"]]'))

        steps = {"HTTP exchange": _step_cost(exchange, meter), "INSERT": _step_cost(insert, meter)}
        # Each UPDATE finds a QUEUED row (one inserted above per UPDATE), so each writes and commits.
        steps["conditional UPDATE"] = _step_cost(lambda: conn.execute(
            "UPDATE floor_jobs SET phase = 'EXECUTING' WHERE job_id = %s AND phase = 'QUEUED'",
            (f"j{next(updated)}",)), meter)
        steps["PUBLISH"] = _step_cost(
            lambda: publisher.publish("spt-bench-floor", b'{"phase": "EXECUTING"}'), meter)
        conn.execute("DROP TABLE floor_jobs")
    connection.close()
    return steps


def bench_embedded(args: argparse.Namespace) -> list[tuple[str, str]]:
    from spt_api.testing import start_server_thread

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), embedded_pool_size=2, reconcile_interval=0)
        server = start_server_thread(settings)
        http_clients = RemoteJobClients(f"{server.base_url}/api/echo/jobs")
        service = server.backends.jobs

        async def direct_async() -> float:
            start = time.perf_counter()
            job = service.store.create(ANONYMOUS, service="echo", parameters=[("message", "x")],
                                       execution_duration=60, destruction_time=None)
            with service.events.subscribe(SYSTEM, job.job_id) as sub:
                queued = service.store.queue(SYSTEM, job.job_id)
                service.dispatcher.send(queued)
                while True:
                    event = await sub.next(30)
                    if event is None or event.phase in ("COMPLETED", "ERROR"):
                        break
            return time.perf_counter() - start

        def direct_one() -> float:
            return asyncio.run_coroutine_threadsafe(direct_async(), server.loop).result()

        for _ in range(10):
            direct_one()  # warm-up
        http_clients.run(10, 0, 1)
        comparison = Comparison(http_clients, direct_one, args)
        http_clients.close()
        server.stop()
    return comparison.rows("embedded (HTTP+SQLite+pool vs task through the same pool)")


def _worker(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, cwd=ROOT / "bench")


def bench_celery(args: argparse.Namespace) -> list[tuple[str, str]]:
    import signal

    import redis

    from tests.support._proc import free_port, wait_until
    from tests.support.pgserver import drop_database, fresh_database_on_machine_pg

    broker = args.broker
    redis.Redis.from_url(broker).flushdb()
    database_url = fresh_database_on_machine_pg("spt_bench")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # WARNING, as the raw worker runs: the comparison is of the job path, not of log volume.
            env = {"SPT_API_DATABASE_URL": database_url, "SPT_API_BROKER_URL": broker, "SPT_API_REDIS_URL": broker,
                   "SPT_API_DATA_DIR": tmp, "BENCH_BROKER_URL": broker, "SPT_API_LOG_LEVEL": args.log_level}
            # The API server in a process of its own, as deployed: the bench's client threads must not
            # share its interpreter (and GIL).
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            procs.append(_worker([sys.executable, "-m", "spt_api", "serve", "--port", str(port)],
                                 {**env, "SPT_API_RECONCILE_INTERVAL": "0"}))
            wait_until(lambda: httpx.get(f"{base}/health/live", timeout=2).status_code == 200,
                       timeout=60, what="the API server", proc=procs[0])
            procs.append(_worker([sys.executable, "-m", "spt_api", "worker", "--queues", "echo",
                                  "--concurrency", "2"], env))
            procs.append(_worker([sys.executable, "-m", "celery", "-A", "raw_celery", "worker", "-c", "2",
                                  "-P", "prefork", "--loglevel", "WARNING", "-n", "raw@%h"], env))
            from raw_celery import noop  # type: ignore[import-not-found]

            http_one = _client_per_thread(f"{base}/api/echo/jobs")

            def raw_one() -> float:
                start = time.perf_counter()
                noop.apply_async(args=["x"]).get(timeout=60)
                return time.perf_counter() - start

            for _ in range(10):
                raw_one(), http_one()  # warm-up, also waits for both workers to be up
            meter = CpuMeter(
                {"bench client": os.getpid(), "spt-api server": procs[0].pid, "spt-api worker": procs[1].pid,
                 "raw Celery worker": procs[2].pid},
                {"PostgreSQL": "postgres", "Redis": "redis-server"},
            )
            comparison = Comparison(http_one, raw_one, args, meter)
            # DALI sync, sequential, in rounds interleaved with raw Celery (its floor is raw's p50 plus steps).
            sync_client = SyncClient(f"{base}/api/echo/sync")
            sync_lat: list[float] = []
            sync_raw_lat: list[float] = []
            for _ in range(args.rounds):
                sync_raw_lat += [raw_one() for _ in range(max(20, args.jobs // 4))]
                sync_lat += [sync_client.run_one() for _ in range(max(20, args.jobs // 4))]
            floor = protocol_floor(database_url, broker, f"{base}/health/live", meter)
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(15)
            except Exception:
                os.killpg(proc.pid, signal.SIGKILL)
        drop_database(database_url)
    rows = comparison.rows("celery (HTTP+PostgreSQL+Celery/Redis, API process + 2 worker processes, vs raw Celery "
                           "apply_async().get() with 2 worker processes)")
    api_cpu, raw_cpu = comparison.cpu()
    raw_p50 = percentile(comparison.raw_lat, 50) * 1000
    latency = {step: ms for step, (ms, _) in floor.items()}
    cpu = {step: ms for step, (_, ms) in floor.items()}
    floor_p50 = raw_p50 + 2 * latency["HTTP exchange"] + latency["INSERT"] + latency["conditional UPDATE"] \
        + latency["PUBLISH"]
    # Throughput on a CPU-bound machine: every job needs raw Celery's CPU plus that of the steps UWS adds
    # (three exchanges, an INSERT, two UPDATEs, two PUBLISHes), even with no code of ours around them.
    raw_total = sum(raw_cpu.values())
    floor_cpu = raw_total + 3 * cpu["HTTP exchange"] + cpu["INSERT"] + 2 * cpu["conditional UPDATE"] \
        + 2 * cpu["PUBLISH"]
    rows += [("  protocol floor: raw + the steps UWS adds, each with the bare library (p50 | CPU ms)", "")]
    rows += [(f"    {step}", f"{ms:6.2f} | {cpu[step]:6.2f}") for step, ms in latency.items()]
    rows += [
        ("    p50 floor: raw + 2 exchanges + INSERT + UPDATE + PUBLISH", f"{floor_p50:7.2f} ms"),
        ("    p50 floor / raw (the least any UWS service could score)", f"{floor_p50 / raw_p50:5.2f}x"),
        ("    spt-api p50 / floor", f"{percentile(comparison.api_lat, 50) * 1000 / floor_p50:5.2f}x"),
        ("    CPU floor per job: raw + 3 exchanges + INSERT + 2 UPDATE + 2 PUBLISH", f"{floor_cpu:6.2f} ms"),
        ("    throughput ceiling / raw (raw CPU / CPU floor)", f"{raw_total / floor_cpu:5.2f}"),
    ]
    # DALI sync answers in one exchange: raw + 1 exchange + INSERT + 2 UPDATE (claim, complete) + PUBLISH (the end).
    sync_raw_p50 = percentile(sync_raw_lat, 50) * 1000
    sync_floor = sync_raw_p50 + latency["HTTP exchange"] + latency["INSERT"] + 2 * latency["conditional UPDATE"] \
        + latency["PUBLISH"]
    sync_p50 = percentile(sync_lat, 50) * 1000
    rows += [
        ("  DALI sync echo (GET /api/echo/sync, sequential, rounds interleaved with raw)", ""),
        ("    spt-api sync p50 / p95",
         f"{sync_p50:7.2f} / {percentile(sync_lat, 95) * 1000:7.2f} ms (raw p50 {sync_raw_p50:.2f} ms)"),
        ("    sync floor: raw + 1 exchange + INSERT + 2 UPDATE + PUBLISH", f"{sync_floor:7.2f} ms"),
        ("    spt-api sync p50 / sync floor", f"{sync_p50 / sync_floor:5.2f}x"),
        ("  CPU ms per job in the throughput run (spt-api | raw)", ""),
    ]
    rows += [(f"    {group}", f"{api_cpu[group]:6.2f} | {raw_cpu[group]:6.2f}") for group in api_cpu
             if api_cpu[group] + raw_cpu[group] >= 0.01]
    rows += [("    total", f"{sum(api_cpu.values()):6.2f} | {sum(raw_cpu.values()):6.2f}")]
    ceiling = raw_total / floor_cpu
    rows += [
        ("  goals (celery)", ""),
        ("    p50 / floor (<= 1.25)", f"{percentile(comparison.api_lat, 50) * 1000 / floor_p50:5.2f}"),
        ("    CPU per job / CPU floor (<= 1.25)", f"{sum(api_cpu.values()) / floor_cpu:5.2f}"),
        ("    throughput / ceiling (>= 0.8)", f"{statistics.median(comparison.rate_ratios) / ceiling:5.2f}"),
        ("    sync p50 / sync floor (<= 1.25)", f"{sync_p50 / sync_floor:5.2f}"),
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["embedded", "celery", "both"], default="both")
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved raw/spt-api rounds")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--log-level", default="WARNING", help="SPT_API_LOG_LEVEL of the API and worker")
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    if args.backend in ("embedded", "both"):
        rows += bench_embedded(args)
    if args.backend in ("celery", "both"):
        rows += bench_celery(args)
    report("echo job roundtrip: submit → COMPLETED", rows)


if __name__ == "__main__":
    main()
