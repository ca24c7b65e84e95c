"""``kill -9`` a Celery worker in the middle of a job, 100 times; print what became of the jobs.

Usage: python bench/kill_worker.py [--rounds 100] [--jobs-per-round 2]

Starts its own private Redis (broker and events), a fresh database on the machine's
PostgreSQL, a SeaweedFS S3 server, an API server (heartbeat timeout 3 s, reconciler every
second, max_attempts 3) and two ``spt-api worker`` processes; each round SIGKILLs a worker
that is mid-job and starts a replacement (see tests/durability/killing.py). Every job must
end COMPLETED or ERROR (ERROR only after its third lost worker), with its results once each
and exactly its objects in the bucket.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
from pathlib import Path

from _common import ROOT  # type: ignore[import-not-found]  # noqa: F401  (puts the repo on sys.path)

from spt_api.db.migrate import migrate
from tests.durability.killing import check_outcomes, kill_rounds
from tests.durability.stack import Stack
from tests.support.pgserver import drop_database, fresh_database_on_machine_pg
from tests.support.redisserver import PrivateRedis
from tests.support.s3server import SeaweedS3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--jobs-per-round", type=int, default=2)
    args = parser.parse_args()

    database_url = fresh_database_on_machine_pg("spt_bench_kill")
    migrate(database_url)
    try:
        with PrivateRedis() as redis_server, SeaweedS3(bucket="spt-bench-kill") as s3, \
                tempfile.TemporaryDirectory() as tmp:
            stack = Stack(database_url, redis_server.url, s3, Path(tmp))
            try:
                server = stack.server()
                report = kill_rounds(
                    stack, server, args.rounds, jobs_per_round=args.jobs_per_round, drain_timeout=600
                )
                problems = check_outcomes(stack, report)
            finally:
                stack.close()
    finally:
        drop_database(database_url)

    print(f"{report.rounds} workers killed mid-job in {report.seconds:.1f} s; {len(report.jobs)} jobs")
    for phase in ("COMPLETED", "ERROR", "ABORTED", "QUEUED", "EXECUTING", "PENDING"):
        print(f"  {phase:<10} {report.outcomes.get(phase, 0)}")
    starts = collections.Counter(report.attempts.values())
    print("  times started: " + ", ".join(f"{n}x: {starts[n]}" for n in sorted(starts)))
    if problems:
        print(f"{len(problems)} problems:")
        for problem in problems:
            print("  " + problem)
        return 1
    print("no job lost, stuck or doubled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
