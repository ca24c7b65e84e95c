"""Fan-out of one job change to many WebSockets on one API process, and what the open sockets cost.

Starts ``spt-api serve`` (embedded backend) in its own process, so its RSS is the server's alone;
the clients run here. Measures, from just before ``POST .../phase PHASE=RUN`` to each socket's
message of the new phase: with one socket (the baseline, repeated) and with N sockets on one job.
Prints p50/p99 of both and their ratio, and the server's RSS growth for N open sockets.
Usage: python bench/websockets.py [--sockets 500] [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _common import ROOT, percentile  # type: ignore[import-not-found]
from tornado.websocket import WebSocketClientConnection, websocket_connect

from tests.support._proc import free_port, wait_until


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def first_change(conn: WebSocketClientConnection) -> float:
    while True:
        raw = await asyncio.wait_for(conn.read_message(), 60)
        assert raw is not None, f"socket closed: {conn.close_code} {conn.close_reason}"
        if json.loads(raw)["phase"] != "PENDING":
            return time.perf_counter()


async def one_change(client: httpx.AsyncClient, base: str, sockets: int) -> tuple[list[float], float, float]:
    """Latencies of one change to ``sockets`` sockets; the seconds taken to open them, and their first reads."""
    created = await client.post(f"{base}/api/echo/jobs", data={"message": "fan-out"})
    job_url = created.headers["Location"]
    events = "ws" + job_url.removeprefix("http") + "/events"
    opened = time.perf_counter()
    conns: list[WebSocketClientConnection] = []
    for _ in range(0, sockets, 50):
        conns += await asyncio.gather(*(websocket_connect(events) for _ in range(min(50, sockets - len(conns)))))
    await asyncio.gather(*(c.read_message() for c in conns))  # the current state, PENDING
    open_seconds = time.perf_counter() - opened
    receivers = [asyncio.ensure_future(first_change(c)) for c in conns]
    started = time.perf_counter()
    await client.post(f"{job_url}/phase", data={"PHASE": "RUN"})
    arrivals = await asyncio.gather(*receivers)
    for conn in conns:
        conn.close()
    return [t - started for t in arrivals], open_seconds, started


async def run(base: str, pid: int, sockets: int, rounds: int) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=60) as client:
        single: list[float] = []
        for _ in range(rounds):
            latencies, _, _ = await one_change(client, base, 1)
            single += latencies
        await asyncio.sleep(1)  # the baseline's sockets closed
        rss_before = rss_mb(pid)
        created = await client.post(f"{base}/api/echo/jobs", data={"message": "held open"})
        events = "ws" + created.headers["Location"].removeprefix("http") + "/events"
        held = [await websocket_connect(events) for _ in range(sockets)]
        await asyncio.gather(*(c.read_message() for c in held))
        rss_open = rss_mb(pid)
        for conn in held:
            conn.close()
        await asyncio.sleep(1)
        many, open_seconds, _ = await one_change(client, base, sockets)
    return {
        "single": single,
        "many": many,
        "rss_before": rss_before,
        "rss_open": rss_open,
        "open_seconds": open_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockets", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "SPT_API_DATA_DIR": tmp,
            "SPT_API_PORT": str(port),
            "SPT_API_HOST": "127.0.0.1",
            "SPT_API_LOG_LEVEL": "WARNING",
            "SPT_API_SERVICES": "echo",
        }
        log = Path(tmp) / "server.log"
        with open(log, "wb") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "spt_api", "serve"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until(
                lambda: httpx.get(f"{base}/health/live", timeout=2).status_code == 200,
                timeout=60,
                what="the API server",
                proc=server,
                log_path=log,
            )
            result = asyncio.run(run(base, server.pid, args.sockets, args.rounds))
        finally:
            server.terminate()
            server.wait(30)
    single, many = result["single"], result["many"]
    growth = result["rss_open"] - result["rss_before"]
    p50_1, p99_1 = percentile(single, 50) * 1000, percentile(single, 99) * 1000
    p50_n, p99_n = percentile(many, 50) * 1000, percentile(many, 99) * 1000
    print(f"one change, 1 socket ({args.rounds} rounds): p50 {p50_1:.1f} ms, p99 {p99_1:.1f} ms")
    print(
        f"one change, {args.sockets} sockets on one process: p50 {p50_n:.1f} ms, p99 {p99_n:.1f} ms, "
        f"max {max(many) * 1000:.1f} ms (all {len(many)} received)"
    )
    print(
        f"fan-out ratio, {args.sockets} sockets / 1 socket: p50 {p50_n / p50_1:.1f}x, p99 {p99_n / p99_1:.1f}x "
        f"(per socket: {p50_n * 1000 / args.sockets:.0f} us of the p50)"
    )
    print(
        f"server RSS: {result['rss_before']:.1f} MB -> {result['rss_open']:.1f} MB with {args.sockets} sockets open "
        f"(+{growth:.1f} MB, {growth * 1024 / args.sockets:.1f} kB per socket); opening them took "
        f"{result['open_seconds']:.2f} s"
    )


if __name__ == "__main__":
    main()
