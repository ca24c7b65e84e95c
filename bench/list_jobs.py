"""A filtered job list over 1M jobs in PostgreSQL: latency of GET /api/echo/jobs with filters.

Usage: python bench/list_jobs.py [--jobs 1000000]
Goal: under 50 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
from _common import ROOT, percentile, report  # type: ignore[import-not-found]

from spt_api.config import Settings
from spt_api.db.migrate import migrate

_ = ROOT

FILL = """
INSERT INTO jobs (job_id, service, owner, phase, creation_time, execution_duration, parameters, results, attempts)
SELECT md5(i::text), 'echo', 'user' || (i %% 1000),
       (ARRAY['COMPLETED','COMPLETED','COMPLETED','ERROR','ABORTED','ARCHIVED',
              'PENDING','QUEUED','EXECUTING'])[1 + i %% 9],
       now() - (i || ' seconds')::interval, 600, '[["message","x"]]'::jsonb, '[]'::jsonb, 1
FROM generate_series(1, %s) AS i
"""

QUERIES = {
    "newest 1000 (no filter)": {},
    "PHASE=EXECUTING": {"PHASE": "EXECUTING"},
    "PHASE=QUEUED&PHASE=EXECUTING&LAST=10": {"PHASE": ["QUEUED", "EXECUTING"], "LAST": "10"},
    "AFTER=1 h ago": {"AFTER": "__after__"},
    "LAST=100": {"LAST": "100"},
}


def main() -> None:
    from http_get import start  # type: ignore[import-not-found]

    from tests.support.pgserver import drop_database, fresh_database_on_machine_pg

    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    url = fresh_database_on_machine_pg("spt_bench_list")
    try:
        migrate(url)
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(FILL, (args.jobs,))
            conn.execute("ANALYZE jobs")
        fill = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(data_dir=Path(tmp), database_url=url, reconcile_interval=0, job_cache_ttl=0)
            base, _backends, stop = start(settings)
            after = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
            rows = [("jobs in the table", f"{args.jobs:,} (filled in {fill:.1f} s)")]
            with httpx.Client(timeout=60, headers={"Accept": "application/json"}) as client:
                for name, params in QUERIES.items():
                    query = {k: (after if v == "__after__" else v) for k, v in params.items()}
                    times = []
                    for _ in range(args.repeat):
                        t0 = time.perf_counter()
                        response = client.get(f"{base}/api/echo/jobs", params=query)
                        times.append(time.perf_counter() - t0)
                        assert response.status_code == 200
                    count = len(response.json()["jobs"])
                    rows.append((name, f"p50 {statistics.median(times) * 1000:6.1f} ms  p95 "
                                       f"{percentile(times, 95) * 1000:6.1f} ms  ({count} jobs returned)"))
            stop()
        rows.append(("goal", "< 50 ms"))
        report("GET job list with filters over PostgreSQL (HTTP, JSON)", rows)
    finally:
        drop_database(url)


if __name__ == "__main__":
    main()
