"""Vector search jobs against plain ``index.search``: queries/s at equal recall@10, 1 vs 4 shards, shard memory.

Starts its own private Redis, a fresh database on the machine's PostgreSQL, a SeaweedFS S3
server and an API server; builds the same index twice (1 shard and 4 shards) with an index job
on a builder worker, then starts shard workers (``spt-api worker --shard NAME:I``) and runs
search jobs of ``--batch`` queries one after another. The yardstick is ``index.search`` on the
same index (the 1-shard file) in this process with the same number of FAISS threads. Every job
answer is checked against the plain answer (same recall@10 against exact search).

Default: a quick size (100,000 x 64, IVF512,PQ16) that runs in about a minute on two busy cores.
``--full``: the issue's size (1,000,000 x 128, IVF4096,PQ32, nprobe 16, 1,000-query batches).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import faiss
import httpx
import numpy as np
from _common import ROOT  # type: ignore[import-not-found]  # noqa: F401  (puts the repo on sys.path)

from spt_api.storage import create_object_store
from tests.durability.stack import Stack, private_stack
from tests.search.data import clusters, put_npy
from tests.support.celery_worker import CeleryWorker, ShardWorker
from workers.services.search import layout
from workers.services.search.faiss_index import no_polysemous_training, recall_at

JSON = {"Accept": "application/json"}


def _tree(pid: int) -> list[int]:
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid] + [p for c in children for p in _tree(int(c))]


def _memory(pid: int) -> tuple[int, int]:
    """(RSS of the main process, PSS of the process tree: shared pages counted once), bytes."""
    rss = pss = 0
    for index, p in enumerate(_tree(pid)):
        try:
            text = Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            continue
        fields = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in text.splitlines()[1:]}
        pss += fields.get("Pss", 0)
        if index == 0:
            rss = fields.get("Rss", 0)
    return rss, pss


#: Client-side wall times of each search job, ms: (create, wait until final, fetch the result).
CLIENT_TIMES: list[tuple[float, float, float]] = []


def _job(client: httpx.Client, index: str, queries: str, k: int, nprobe: int) -> np.ndarray:
    import io

    t0 = time.perf_counter()
    created = client.post("/api/search/jobs", data={"index": index, "queries": queries, "k": str(k),
                                                    "nprobe": str(nprobe), "PHASE": "RUN"})
    url = created.headers["Location"]
    t1 = time.perf_counter()
    while True:
        job = client.get(url, params={"WAIT": 30}, headers=JSON).json()
        if job["phase"] not in ("PENDING", "QUEUED", "EXECUTING"):
            break
    if job["phase"] != "COMPLETED":
        raise SystemExit(f"search job {url} ended {job['phase']}: {job.get('errorSummary')}")
    t2 = time.perf_counter()
    answer = client.get(f"{url}/results/neighbours", follow_redirects=True)
    with np.load(io.BytesIO(answer.content)) as data:
        ids: np.ndarray = data["ids"]
    CLIENT_TIMES.append(((t1 - t0) * 1000, (t2 - t1) * 1000, (time.perf_counter() - t2) * 1000))
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="1,000,000 x 128, IVF4096,PQ32 (the issue's size)")
    parser.add_argument("--batches", type=int, default=None, help="search jobs per measurement")
    parser.add_argument("--batch", type=int, default=1000, help="queries per search job (the issue's: 1,000)")
    parser.add_argument("--threads", type=int, default=1, help="FAISS threads, in workers and in the yardstick")
    parser.add_argument("--train-sample", type=int, default=None,
                        help="vectors the index builds train on (default: the service's, min(n, 256 nlist))")
    parser.add_argument("--timeline", action="store_true", help="print each search job's phase times (ms)")
    args = parser.parse_args()
    if args.full:
        n, d, factory, nprobe, batch, batches = 1_000_000, 128, "IVF4096,PQ32", 16, args.batch, args.batches or 10
    else:
        n, d, factory, nprobe, batch, batches = 100_000, 64, "IVF512,PQ16", 16, args.batch, args.batches or 4
    k = 10
    faiss.omp_set_num_threads(args.threads)
    threads = {"SPT_API_SEARCH_THREADS": str(args.threads), "SPT_API_INPUT_SHARED_PREFIXES": "datasets/"}
    print(f"data: {n} x {d} (seeded Gaussian clusters), {factory}, nprobe {nprobe}, {batches} batches of {batch} "
          f"queries, k {k}, {args.threads} FAISS thread(s); CPU only (no GPU lent to this run)")
    vectors = clusters(n, d, seed=1, centres=200)
    queries = clusters(batch * batches, d, seed=2, centres=200)

    with private_stack("spt_bench_search", "spt-bench-search") as stack:
        status = _run(stack, vectors, queries, factory, nprobe, batch, batches, k, threads, args.train_sample)
        if args.timeline:
            _timeline(stack.database_url)
        return status


def _run(stack: Stack, vectors: np.ndarray, queries: np.ndarray, factory: str, nprobe: int, batch: int,
         batches: int, k: int, threads: dict[str, str], train_sample: int | None = None) -> int:
    server = stack.server(input_shared_prefixes="datasets/")
    storage = create_object_store(stack.settings())
    put_npy(storage, "datasets/bench/vectors.npy", vectors)
    refs = []
    for b in range(batches):
        refs.append(put_npy(storage, f"datasets/bench/queries-{b}.npy", queries[b * batch : (b + 1) * batch]))
    # Index builds, and the search jobs around the shards' pieces (split, merge): the chart's `search` workers.
    builder = CeleryWorker(stack.env(**threads), queues="index,search", concurrency=1, name="builder").start()
    stack.workers.append(builder)
    for name, shards in (("bench1", 1), ("bench4", 4)):
        started = time.perf_counter()
        extra = {"train_sample": train_sample} if train_sample else {}
        url = server.create_job("index", run=True, name=name, vectors="datasets/bench/vectors.npy", factory=factory,
                                shards=shards, **extra)
        job = server.wait_final(url, timeout=24 * 3600)
        if job["phase"] != "COMPLETED":
            raise SystemExit(f"index build {name} ended {job['phase']}: {job.get('errorSummary')}")
        manifest = layout.read_manifest(storage, name)
        print(f"built {name}: {shards} shard(s) in {time.perf_counter() - started:.1f} s, "
              f"recall@10 (metadata) {manifest['recall_at_10']:.3f}, {sum(manifest['shard_bytes']) / 1e6:.1f} MB")

    # The yardstick: plain index.search on the 1-shard file, in this process.
    path = stack.data_dir / "plain.faiss"
    path.write_bytes(b"".join(storage.read_chunks(layout.shard_key("bench1", 1, 0))))
    plain = faiss.read_index(str(path))
    no_polysemous_training(plain)
    faiss.extract_index_ivf(plain).nprobe = nprobe
    truth_index = faiss.IndexFlatL2(vectors.shape[1])
    truth_index.add(vectors)
    check = min(500, len(queries))
    _, truth = truth_index.search(queries[:check], k)
    started = time.perf_counter()
    plain_ids = np.concatenate([plain.search(queries[b * batch : (b + 1) * batch], k)[1] for b in range(batches)])
    plain_seconds = time.perf_counter() - started
    plain_qps = len(queries) / plain_seconds
    plain_recall = recall_at(plain_ids[:check], truth, k)
    print(f"plain index.search: {plain_qps:,.0f} queries/s, recall@10 {plain_recall:.3f} (alone, before the jobs)")

    results = {}
    for name, shards in (("bench1", 1), ("bench4", 4)):
        workers = [ShardWorker(stack.env(**threads), f"{name}:{i}").start() for i in range(shards)]
        stack.workers.extend(workers)
        with httpx.Client(base_url=server.base_url, timeout=600) as client:
            _job(client, name, refs[0], k, nprobe)  # warm: every shard worker has started and loaded its shard
            CLIENT_TIMES.clear()
            # Each job next to a plain search of its batch: on shared cores the load of other processes
            # drifts by tens of per cent within a minute, and a yardstick timed in another minute than the
            # jobs moved the ratio by as much as the jobs' whole overhead.
            seconds = plain_here = 0.0
            answers = []
            for b, ref in enumerate(refs):
                started = time.perf_counter()
                plain.search(queries[b * batch : (b + 1) * batch], k)
                plain_here += time.perf_counter() - started
                started = time.perf_counter()
                answers.append(_job(client, name, ref, k, nprobe))
                seconds += time.perf_counter() - started
            ids = np.concatenate(answers)
        times = np.median(np.array(CLIENT_TIMES), axis=0)
        qps = len(queries) / seconds
        plain_qps = len(queries) / plain_here
        recall = recall_at(ids[:check], truth, k)
        same = float((ids == plain_ids).mean())
        memory = [_memory(w.proc.pid) for w in workers if w.proc is not None]
        sizes = layout.read_manifest(storage, name)["shard_bytes"]
        results[name] = qps
        print(f"search jobs, {shards} shard worker(s): {qps:,.0f} queries/s = {qps / plain_qps:.2f} x plain "
              f"({plain_qps:,.0f} queries/s, timed batch by batch between the jobs; goal >= 0.90), "
              f"recall@10 {recall:.3f} (plain {plain_recall:.3f}), ids equal to plain's: {same:.4f}")
        print(f"  per job (client side, median ms): create {times[0]:.1f}, until final {times[1]:.1f}, "
              f"result fetched {times[2]:.1f}; plain index.search of a batch {1000 * batch / plain_qps:.1f}")
        for i, ((rss, pss), size) in enumerate(zip(memory, sizes, strict=True)):
            print(f"  shard worker {name}:{i}: RSS {rss / 1e6:.0f} MB (main process), PSS {pss / 1e6:.0f} MB "
                  f"(main + pool child), shard file {size / 1e6:.1f} MB")
        for worker in workers:
            worker.stop()
    if builder.proc is not None:
        rss, pss = _memory(builder.proc.pid)
        print(f"  for comparison, a worker holding no shard (the index/search worker): RSS {rss / 1e6:.0f} MB, "
              f"PSS {pss / 1e6:.0f} MB")
    print(f"4 shards vs 1 shard: {results['bench4'] / results['bench1']:.2f} x the queries/s "
          f"(on {os.cpu_count()} cores shared by every process of this run)")
    return 0


def _timeline(database_url: str) -> None:
    """Each search job's phases in ms from its creation: queued, claimed (split), each piece's creation,
    claim and end, and the job's end (after the merge)."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT job_id, parent_id, creation_time, queued_time, start_time, end_time FROM jobs "
            "WHERE service = 'search' ORDER BY creation_time")).all()
    engine.dispose()
    children: dict[str, list[Any]] = {}
    for row in rows:
        if row.parent_id:
            children.setdefault(row.parent_id, []).append(row)

    def ms(t: Any, t0: Any) -> str:
        return f"{(t - t0).total_seconds() * 1000:7.1f}" if t is not None else "      -"

    print("search jobs (ms from creation): queued, claimed, [piece: created, claimed, ended], ended")
    for row in rows:
        if row.parent_id:
            continue
        t0 = row.creation_time
        pieces = " ".join(f"[{ms(c.creation_time, t0)} {ms(c.start_time, t0)} {ms(c.end_time, t0)}]"
                          for c in children.get(row.job_id, []))
        print(f"  {row.job_id[:8]} {ms(row.queued_time, t0)} {ms(row.start_time, t0)} {pieces} {ms(row.end_time, t0)}")


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
