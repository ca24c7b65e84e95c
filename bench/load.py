"""Load benchmarks of the Celery-backed stack (API process + PostgreSQL + a private Redis), on 127.0.0.1 only.

- waits: N clients blocked in ``GET /api/echo/jobs/{id}?WAIT=60&PHASE=PENDING`` on ONE API process (no
  worker runs: nothing but the bench changes a phase), then the phase change (``POST …/phase PHASE=RUN``),
  and each waiter's wake-up latency from the moment that POST was sent. ``--mode shared``: all N waiters
  on one job, one POST (a herd); ``--mode per-job``: one job per waiter, the N POSTs one after another.
  Also the API server's RSS growth (``/proc/PID/status``) while the N waiters are held.
  Goals: p99 < 50 ms, RSS growth < 50 MB.
- drain: ``--jobs`` (10,000) echo jobs submitted with PHASE=RUN through HTTP while no worker runs, then one
  ``spt-api worker --queues echo -c 2`` (2 worker processes); the drain rate until every job is final, and
  the check that none was lost, stuck or run twice (PostgreSQL rows: COMPLETED, attempts == 1, one result,
  whose stored bytes are the job's own message). Yardstick: raw Celery jobs/s, 2000 ``apply_async`` of a
  no-op task on the same Redis with 2 raw worker processes (as bench/roundtrip.py).
- mixed: the API + one worker (-c 2), then locust (bench/locustfile.py) headless against it; prints
  failures and p95 per request type from locust's CSV.

Every process started here is in a session of its own and its group is killed at the end; Redis is a
private ``redis-server`` and the database a fresh one on the machine's PostgreSQL, dropped at the end.

Usage: python bench/load.py waits [-n 1000] [--mode shared|per-job|both]
       python bench/load.py drain [--jobs 10000] [--concurrency 8]
       python bench/load.py mixed [--users 50] [--spawn-rate 10] [--time 60s]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import http.client
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _common import ROOT, percentile, report  # type: ignore[import-not-found]

from spt_api.uws.models import JobResult

HOST = "127.0.0.1"
JSON = {"Accept": "application/json"}
FORM = {**JSON, "Content-Type": "application/x-www-form-urlencoded"}


# -- the stack -------------------------------------------------------------------------------------------


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _kill_group(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM the process group ``proc`` leads, then SIGKILL what is left of it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


@dataclass
class Stack:
    """A fresh PostgreSQL database, a private redis-server, a data dir; the processes started on them."""

    database_url: str
    redis: Any
    tmp: Path
    log_level: str = "WARNING"
    env_extra: dict[str, str] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    api_pid: int = 0
    base: str = ""

    @property
    def broker(self) -> str:
        return str(self.redis.url_for(0))

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SPT_API_DATABASE_URL": self.database_url,
            "SPT_API_BROKER_URL": self.broker,
            "SPT_API_REDIS_URL": self.broker,
            "SPT_API_DATA_DIR": str(self.tmp / "data"),
            "SPT_API_LOG_LEVEL": self.log_level,
            "BENCH_BROKER_URL": str(self.redis.url_for(1)),
            **self.env_extra,
        }

    def spawn(self, argv: list[str], log_name: str, **kw: Any) -> subprocess.Popen[bytes]:
        log = (self.tmp / log_name).open("ab")
        proc = subprocess.Popen(argv, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, **kw)
        log.close()
        self.procs.append(proc)
        return proc

    def start_api(self) -> str:
        import httpx

        from tests.support._proc import free_port, wait_until

        port = free_port()
        proc = self.spawn([sys.executable, "-m", "spt_api", "serve", "--host", HOST, "--port", str(port)], "api.log")
        self.api_pid = proc.pid
        self.base = f"http://{HOST}:{port}"
        wait_until(lambda: httpx.get(f"{self.base}/health/live", timeout=2).status_code == 200,
                   timeout=60, what="the API server", proc=proc, log_path=self.tmp / "api.log")
        return self.base

    def start_worker(self, concurrency: int = 2) -> subprocess.Popen[bytes]:
        return self.spawn([sys.executable, "-m", "spt_api", "worker", "--queues", "echo", "-c", str(concurrency),
                           "--name", f"load-{os.getpid()}-{len(self.procs)}@%h"], "worker.log")

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        _kill_group(proc)
        if proc in self.procs:
            self.procs.remove(proc)

    def log(self, name: str) -> str:
        path = self.tmp / name
        return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def stack(log_level: str = "WARNING", **env_extra: str) -> Iterator[Stack]:
    from tests.support.pgserver import drop_database, fresh_database_on_machine_pg
    from tests.support.redisserver import PrivateRedis

    database_url = fresh_database_on_machine_pg("spt_bench_load")
    redis_server = None
    tmp = Path(tempfile.mkdtemp(prefix="spt-load-"))
    st = None
    try:
        redis_server = PrivateRedis().start()
        st = Stack(database_url, redis_server, tmp, log_level, dict(env_extra))
        yield st
    finally:
        if st is not None:
            for proc in reversed(st.procs):
                _kill_group(proc)
        if redis_server is not None:
            redis_server.close()
        drop_database(database_url)
        if os.environ.get("BENCH_KEEP_LOGS"):
            print(f"logs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


class Client:
    """A keep-alive http.client connection (the cheapest client in CPU: the machine is shared)."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname or HOST, parts.port, timeout=120)

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, dict[str, str], bytes]:
        self.conn.request(method, path, body=body, headers=FORM if body is not None else JSON)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def create(self, body: str) -> str:
        status, headers, data = self.request("POST", "/api/echo/jobs", body)
        assert status == 303, (status, data[:300])
        return urlsplit(headers["location"]).path.rsplit("/", 1)[-1]

    def close(self) -> None:
        self.conn.close()


def _metric(base: str, name: str) -> float | None:
    client = Client(base)
    try:
        _, _, data = client.request("GET", "/metrics")
    finally:
        client.close()
    for line in data.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def _xacts(database_url: str) -> int:
    """Transactions committed or rolled back in the database so far (pg_stat_database)."""
    with _pg(database_url) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = "
                           "current_database()").fetchone()
    return int(row[0])


def _raise_nofile(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))  # the API server, started after, inherits it
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- waits -----------------------------------------------------------------------------------------------


class Waiter(asyncio.Protocol):
    """One raw HTTP/1.1 connection holding a WAIT; notes when its whole response has arrived."""

    def __init__(self, request: bytes, loop: asyncio.AbstractEventLoop) -> None:
        self.request = request
        self.buf = bytearray()
        self.done: asyncio.Future[tuple[float, int, str]] = loop.create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 or self.done.done():
            return
        head = self.buf[:end].decode("latin-1").split("\r\n")
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        body = bytes(self.buf[end + 4:])
        if len(body) < length:
            return
        status = int(head[0].split()[1])
        phase = json.loads(body).get("phase", "?") if status == 200 else body[:200].decode(errors="replace")
        self.done.set_result((now, status, phase))
        assert self.transport is not None
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("closed before the whole response"))


async def _open_waiters(port: int, job_ids: list[str], wait: int) -> list[Waiter]:
    loop = asyncio.get_running_loop()
    waiters: list[Waiter] = []
    # In batches: the listening socket's backlog (128) would drop a burst of 1000 SYNs for a second.
    for start in range(0, len(job_ids), 64):
        batch = []
        for job_id in job_ids[start:start + 64]:
            request = (f"GET /api/echo/jobs/{job_id}?WAIT={wait}&PHASE=PENDING HTTP/1.1\r\n"
                       f"Host: {HOST}:{port}\r\nAccept: application/json\r\n\r\n").encode()
            waiter = Waiter(request, loop)
            batch.append(loop.create_connection(lambda w=waiter: w, HOST, port))  # type: ignore[misc]
            waiters.append(waiter)
        await asyncio.gather(*batch)
    return waiters


class RssSampler:
    """Peak RSS of a process, sampled every 20 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = _rss_bytes(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, _rss_bytes(self.pid))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def _one_waits_run(st: Stack, n: int, mode: str, wait: int) -> list[tuple[str, str]]:
    base = st.base
    port = int(urlsplit(base).port or 0)
    client = Client(base)
    jobs = [client.create("message=w") for _ in range(1 if mode == "shared" else n)]
    targets = jobs * n if mode == "shared" else jobs
    # Warm-up: WAITs that end at once (the job is not in phase QUEUED), and a phase change of jobs of
    # their own, so that lazy imports and the broker connection are not in the first POST's time.
    for job_id in jobs[:5]:
        client.request("GET", f"/api/echo/jobs/{job_id}?WAIT=1&PHASE=QUEUED")
    for _ in range(5):
        warm = client.create("message=warm")
        client.request("POST", f"/api/echo/jobs/{warm}/phase", "PHASE=RUN")
        client.request("GET", f"/api/echo/jobs/{warm}?WAIT=1&PHASE=PENDING")
    time.sleep(0.5)
    rss_before = _rss_bytes(st.api_pid)
    sampler = RssSampler(st.api_pid)
    posted: dict[str, tuple[float, float]] = {}
    xacts: list[float] = []

    async def run() -> tuple[list[Waiter], float, float]:
        opened = time.perf_counter()
        waiters = await _open_waiters(port, targets, wait)
        deadline = time.monotonic() + 60
        held = 0.0
        while time.monotonic() < deadline:
            held = await asyncio.to_thread(_metric, base, "spt_http_waits_in_flight") or 0.0
            if held >= n:
                break
            await asyncio.sleep(0.1)
        assert held >= n, f"only {held:.0f} of {n} WAITs held by the server after 60 s"
        all_held = time.perf_counter() - opened
        await asyncio.sleep(0.5)
        rss_held = _rss_bytes(st.api_pid)

        def change() -> None:
            poster = Client(base)
            for job_id in jobs:
                sent = time.perf_counter()
                status, _, _ = poster.request("POST", f"/api/echo/jobs/{job_id}/phase", "PHASE=RUN")
                assert status == 303, status
                posted[job_id] = (sent, time.perf_counter())
            poster.close()

        # Held WAITs re-read their job every WAIT_RECHECK_SECONDS (5 s) in case an event was lost: the
        # database's idle rate with the N waiters held, to set the count during the wake-up against.
        idle_from, idle_start = _xacts(st.database_url), time.perf_counter()
        await asyncio.sleep(3)
        xacts_before, idle_end = _xacts(st.database_url), time.perf_counter()
        xacts.append((xacts_before - idle_from) / (idle_end - idle_start))
        await asyncio.to_thread(change)
        await asyncio.wait_for(asyncio.gather(*(w.done for w in waiters)), 30)
        await asyncio.sleep(1.5)  # backends report their counts to pg_stat_database within a second
        xacts.append(_xacts(st.database_url) - xacts_before)
        xacts.append(time.perf_counter() - idle_end)
        return waiters, all_held, rss_held

    waiters, all_held, rss_held = asyncio.run(run())
    peak = sampler.stop()
    time.sleep(0.5)
    rss_after = _rss_bytes(st.api_pid)
    client.close()
    from_post, from_303, phases = [], [], {}
    for job_id, waiter in zip(targets, waiters, strict=True):
        at, status, phase = waiter.done.result()
        sent, answered = posted[job_id]
        from_post.append((at - sent) * 1000)
        from_303.append((at - answered) * 1000)
        key = f"{status} {phase}"
        phases[key] = phases.get(key, 0) + 1
    mb = 1024 * 1024
    growth = (peak - rss_before) / mb
    p99 = percentile(from_post, 99)
    what = ("one shared job, all waiters on it, one POST PHASE=RUN" if mode == "shared"
            else f"{n} jobs, one waiter each, {n} POST PHASE=RUN one after another")
    return [
        (f"mode {mode}: {what}", ""),
        ("  waiters (raw asyncio sockets, one connection each)", str(n)),
        ("  all held by the server after", f"{all_held:.2f} s"),
        ("  answers (status phase: count)", ", ".join(f"{k}: {v}" for k, v in sorted(phases.items()))),
        ("  wake-up from the POST sent: p50 / p95 / p99 / max",
         f"{percentile(from_post, 50):7.1f} / {percentile(from_post, 95):7.1f} / {p99:7.1f} / "
         f"{max(from_post):7.1f} ms"),
        ("  wake-up after the POST's 303 arrived: p50 / p99",
         f"{percentile(from_303, 50):7.1f} / {percentile(from_303, 99):7.1f} ms"),
        ("  PostgreSQL transactions/s while the waiters are held (their 5 s re-reads)", f"{xacts[0]:.0f}"),
        ("  PostgreSQL transactions, first POST → 1.5 s after the last answer",
         f"{xacts[1]:.0f} in {xacts[2]:.1f} s (the idle rate alone: {xacts[0] * xacts[2]:.0f})"),
        ("  API RSS before / held / peak / after", f"{rss_before / mb:6.1f} / {rss_held / mb:6.1f} / "
         f"{peak / mb:6.1f} / {rss_after / mb:6.1f} MB"),
        ("  RSS growth (peak - before)", f"{growth:6.1f} MB ({growth * mb / n / 1024:.1f} KiB per waiter)"),
        ("  goal p99 < 50 ms", "met" if p99 < 50 else "NOT met"),
        ("  goal RSS growth < 50 MB", "met" if growth < 50 else "NOT met"),
    ]


def cmd_waits(args: argparse.Namespace) -> None:
    limit = _raise_nofile(2 * args.n + 512)
    rows: list[tuple[str, str]] = [("open-files limit (bench and API server)", str(limit))]
    modes = ["shared", "per-job"] if args.mode == "both" else [args.mode]
    for mode in modes:
        # A fresh stack per mode: each RSS baseline is that of a server that has held no waiter yet.
        # No worker: the only phase changes are the bench's. The reconciler is off so it changes nothing.
        with stack(args.log_level, SPT_API_RECONCILE_INTERVAL="0") as st:
            st.start_api()
            rows += _one_waits_run(st, args.n, mode, args.wait)
    report(f"WAIT wake-up: {args.n} concurrent WAIT=60 on one API process (Celery backend, no worker)", rows)


# -- drain -----------------------------------------------------------------------------------------------


def _submit_all(base: str, total: int, concurrency: int) -> tuple[dict[str, str], float]:
    local = threading.local()
    clients: list[Client] = []

    def one(i: int) -> tuple[str, str]:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = Client(base)
            clients.append(client)
        message = f"m{i}"
        return client.create(f"message={message}&PHASE=RUN"), message

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        submitted = dict(pool.map(one, range(total)))
    elapsed = time.perf_counter() - start
    for client in clients:
        client.close()
    return submitted, elapsed


def _pg(database_url: str) -> Any:
    import psycopg

    from spt_api.db.migrate import sqlalchemy_url

    dsn = sqlalchemy_url(database_url).replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(dsn, autocommit=True)


def _phase_counts(conn: Any) -> dict[str, int]:
    return dict(conn.execute("SELECT phase, count(*) FROM jobs WHERE service = 'echo' GROUP BY phase").fetchall())


def raw_celery_rate(st: Stack, tasks: int) -> float:
    """jobs/s of raw Celery: ``tasks`` no-op apply_async().get() with 8 in flight, 2 raw worker processes."""
    os.environ["BENCH_BROKER_URL"] = st.env()["BENCH_BROKER_URL"]
    sys.path.insert(0, str(ROOT / "bench"))
    from raw_celery import noop  # type: ignore[import-not-found]

    proc = st.spawn([sys.executable, "-m", "celery", "-A", "raw_celery", "worker", "-c", "2", "-P", "prefork",
                     "--loglevel", "WARNING", "-n", f"raw-{os.getpid()}@%h"], "raw.log", cwd=ROOT / "bench")
    try:
        for _ in range(10):
            noop.apply_async(args=["x"]).get(timeout=60)  # warm-up; waits for the worker to be up
        start = time.perf_counter()
        results = [noop.apply_async(args=[str(i)]) for i in range(tasks)]
        for result in results:
            result.get(timeout=120)
        return tasks / (time.perf_counter() - start)
    finally:
        st.stop(proc)


def cmd_drain(args: argparse.Namespace) -> None:
    env = {} if args.reconcile_interval is None else {"SPT_API_RECONCILE_INTERVAL": str(args.reconcile_interval)}
    if args.heartbeat_timeout is not None:
        # The reconciler treats a QUEUED job as maybe lost after twice this: a short one makes it look
        # at the backlog while it drains (a lost message is resent only when the queue is empty).
        env["SPT_API_HEARTBEAT_TIMEOUT"] = str(args.heartbeat_timeout)
    with stack(args.log_level, **env) as st:
        base = st.start_api()
        submitted, submit_s = _submit_all(base, args.jobs, args.concurrency)
        import redis

        broker = redis.Redis.from_url(st.broker)
        depth = broker.llen("echo")
        with _pg(st.database_url) as conn:
            before = _phase_counts(conn)
            started = time.perf_counter()
            worker = st.start_worker(args.worker_concurrency)
            last_done, last_change = -1, time.monotonic()
            progress: list[str] = []
            while True:
                counts = _phase_counts(conn)
                done = sum(v for k, v in counts.items() if k in ("COMPLETED", "ERROR", "ABORTED"))
                if done >= args.jobs:
                    break
                if done != last_done:
                    last_done, last_change = done, time.monotonic()
                elif time.monotonic() - last_change > args.stall:
                    progress.append(f"stalled at {done} final for {args.stall} s: {counts}")
                    break
                if time.perf_counter() - started > args.max_seconds:
                    progress.append(f"gave up after {args.max_seconds} s at {done} final: {counts}")
                    break
                time.sleep(0.5)
            wall = time.perf_counter() - started
            counts = _phase_counts(conn)
            first_start, last_end = conn.execute(
                "SELECT min(start_time), max(end_time) FROM jobs WHERE service = 'echo'").fetchone()
            rows = conn.execute(
                "SELECT job_id, phase, attempts, results, error_message FROM jobs WHERE service = 'echo'").fetchall()
        st.stop(worker)
        results_root = st.tmp / "data" / "results"
        bad: dict[str, list[str]] = {"not COMPLETED": [], "attempts != 1": [], "results != 1": [],
                                     "stored bytes != own message": [], "unknown job": []}
        for job_id, phase, attempts, results, error in rows:
            if job_id not in submitted:
                bad["unknown job"].append(job_id)
                continue
            if phase != "COMPLETED":
                bad["not COMPLETED"].append(f"{job_id} {phase} {error or ''}".strip())
            if attempts != 1:
                bad["attempts != 1"].append(f"{job_id} attempts={attempts}")
            if len(results) != 1:
                bad["results != 1"].append(f"{job_id} {len(results)} results")
                continue
            result = JobResult.from_record(results[0])
            # A short message is kept in the job's record (SPT_API_INLINE_RESULT_MAX), a longer one in a file.
            path = results_root / result.key
            stored = result.data if result.data is not None else path.read_bytes() if path.is_file() else None
            if stored != submitted[job_id].encode():
                bad["stored bytes != own message"].append(f"{job_id} {stored!r:.40}")
        lost = set(submitted) - {row[0] for row in rows}
        api_log = st.log("api.log")
        requeued = api_log.count(" requeued (attempt")
        raw_rate = raw_celery_rate(st, args.raw_tasks) if args.raw_tasks else float("nan")
    span = (last_end - first_start).total_seconds() if first_start and last_end else float("nan")
    db_rate = len(rows) / span if span == span and span > 0 else float("nan")
    table = [
        ("jobs submitted (POST PHASE=RUN, no worker running)", f"{len(submitted)} in {submit_s:.1f} s "
         f"({len(submitted) / submit_s:.0f}/s, {args.concurrency} client threads)"),
        ("phases before the worker started", json.dumps(before)),
        ("messages in the broker's 'echo' list then", str(depth)),
        ("worker", f"1 x spt-api worker --queues echo -c {args.worker_concurrency}"),
        ("API reconciler settings", json.dumps(env) if env else "the server's defaults"),
        ("drain: wall, worker start → all final", f"{wall:.1f} s → {len(rows) / wall:.1f} jobs/s"),
        ("drain: first start_time → last end_time (PostgreSQL)", f"{span:.1f} s → {db_rate:.1f} jobs/s"),
        ("phases at the end", json.dumps(counts)),
        ("lost (submitted, no row)", str(len(lost))),
    ]
    table += [(f"{name}", f"{len(ids)}" + (f" e.g. {ids[:3]}" if ids else "")) for name, ids in bad.items()]
    table += [("reconciler requeues (API log)", str(requeued))]
    table += [(line, "") for line in progress]
    if args.raw_tasks:
        table += [(f"raw Celery, {args.raw_tasks} no-op apply_async().get() (2 raw worker processes)",
                   f"{raw_rate:.1f} jobs/s"),
                  ("drain rate / raw Celery (PostgreSQL span)", f"{db_rate / raw_rate:.2f}")]
    ok = not lost and not any(bad.values()) and counts.get("COMPLETED", 0) == args.jobs
    table += [("every job COMPLETED once with its one result", "yes" if ok else "NO")]
    report(f"drain: {args.jobs} echo jobs queued with no worker, then a worker", table)


# -- mixed (locust) --------------------------------------------------------------------------------------


def cmd_mixed(args: argparse.Namespace) -> None:
    locust = shutil.which("locust", path=str(Path(sys.executable).parent)) or shutil.which("locust")
    if locust is None:
        sys.exit("locust is not installed: pip install locust (the test extra lists it)")
    out = Path(args.csv_dir or tempfile.mkdtemp(prefix="spt-locust-"))
    out.mkdir(parents=True, exist_ok=True)
    prefix = out / "mixed"
    with stack(args.log_level) as st:
        base = st.start_api()
        worker = st.start_worker(args.worker_concurrency)
        from tests.support._proc import wait_until

        client = Client(base)
        job_id = client.create("message=warm&PHASE=RUN")
        wait_until(lambda: json.loads(client.request("GET", f"/api/echo/jobs/{job_id}?WAIT=5")[2])["phase"]
                   == "COMPLETED", timeout=60, what="the worker", proc=worker, log_path=st.tmp / "worker.log")
        client.close()
        proc = st.spawn([locust, "-f", str(ROOT / "bench" / "locustfile.py"), "--headless", "-u", str(args.users),
                         "-r", str(args.spawn_rate), "-t", args.time, "--host", base, "--csv", str(prefix),
                         "--only-summary", "--stop-timeout", "35"], "locust.log")
        try:
            proc.wait(_seconds(args.time) + 120)
        except subprocess.TimeoutExpired:
            print("locust ran past its time; stopped", file=sys.stderr)
        st.stop(proc)
        locust_log = st.log("locust.log")
        api_errors = [line for line in st.log("api.log").splitlines() if "ERROR" in line or "Traceback" in line]
    rows: list[tuple[str, str]] = [
        ("locust", f"{args.users} users, spawn rate {args.spawn_rate}/s, {args.time}, exit code {proc.returncode}"),
        ("stack", f"1 API process, 1 x spt-api worker -c {args.worker_concurrency}, PostgreSQL, private Redis"),
        ("CSV", f"{prefix}_stats.csv"),
        ("type name: requests / failures / p50 / p95 / p99 ms / req/s", ""),
    ]
    stats_path = Path(f"{prefix}_stats.csv")
    if stats_path.exists():
        with stats_path.open() as handle:
            for row in csv.DictReader(handle):
                rows.append((f"  {row['Type']} {row['Name']}",
                             f"{row['Request Count']:>6} / {row['Failure Count']:>4} / {row['50%']:>5} / "
                             f"{row['95%']:>5} / {row['99%']:>5} / {float(row['Requests/s']):6.1f}"))
    failures_path = Path(f"{prefix}_failures.csv")
    if failures_path.exists():
        with failures_path.open() as handle:
            for row in csv.DictReader(handle):
                rows.append((f"  failure {row['Method']} {row['Name']} x{row['Occurrences']}", row["Error"][:160]))
    rows.append(("API log lines with ERROR or Traceback", str(len(api_errors))))
    rows += [(f"  {line[:150]}", "") for line in api_errors[:5]]
    if proc.returncode not in (0, 1):
        rows += [("locust log tail", locust_log[-1500:])]
    report("mixed workload (locust): submit, WAIT, list, result, DELETE", rows)


def _seconds(value: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return int(value[:-1]) * units[value[-1]] if value[-1] in units else int(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log-level", default="WARNING", help="SPT_API_LOG_LEVEL of the API and worker")
    sub = parser.add_subparsers(dest="command", required=True)
    waits = sub.add_parser("waits", help="N concurrent WAITs, one phase change: wake-up latency and API RSS")
    waits.add_argument("-n", type=int, default=1000, help="concurrent waiters")
    waits.add_argument("--mode", choices=["shared", "per-job", "both"], default="both")
    waits.add_argument("--wait", type=int, default=60, help="WAIT= of each request")
    waits.set_defaults(func=cmd_waits)
    drain = sub.add_parser("drain", help="a backlog of jobs, then a worker: drain rate, none lost or run twice")
    drain.add_argument("--jobs", type=int, default=10_000)
    drain.add_argument("--concurrency", type=int, default=8, help="client threads submitting")
    drain.add_argument("--worker-concurrency", type=int, default=2)
    drain.add_argument("--raw-tasks", type=int, default=2000, help="raw Celery yardstick tasks (0: skip)")
    drain.add_argument("--reconcile-interval", type=int, default=None,
                       help="SPT_API_RECONCILE_INTERVAL of the API (default: the server's, 30 s)")
    drain.add_argument("--heartbeat-timeout", type=int, default=None,
                       help="SPT_API_HEARTBEAT_TIMEOUT of the API and worker (default: the server's, 60 s)")
    drain.add_argument("--stall", type=float, default=60, help="give up when nothing ends for this long (s)")
    drain.add_argument("--max-seconds", type=float, default=600, help="give up after this long (s)")
    drain.set_defaults(func=cmd_drain)
    mixed = sub.add_parser("mixed", help="API + worker, then locust headless with bench/locustfile.py")
    mixed.add_argument("--users", type=int, default=50)
    mixed.add_argument("--spawn-rate", type=int, default=10)
    mixed.add_argument("--time", default="60s")
    mixed.add_argument("--worker-concurrency", type=int, default=2)
    mixed.add_argument("--csv-dir", help="where locust writes its CSV files (default: a temp dir, kept)")
    mixed.set_defaults(func=cmd_mixed)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
