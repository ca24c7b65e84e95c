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

from _common import ROOT  # type: ignore[import-not-found]  # noqa: F401  (puts the repo on sys.path)

from tests.durability.killing import check_outcomes, kill_rounds
from tests.durability.stack import private_stack


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--jobs-per-round", type=int, default=2)
    args = parser.parse_args()

    with private_stack("spt_bench_kill", "spt-bench-kill") as stack:
        server = stack.server()
        report = kill_rounds(stack, server, args.rounds, jobs_per_round=args.jobs_per_round, drain_timeout=600)
        problems = check_outcomes(stack, report)

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
