"""Collector and worker processes for the multi-process Redis test.

Usage::

    python tests/scaleout_processes.py collect REDIS_URL REQUESTS_JSONL
    python tests/scaleout_processes.py work REDIS_URL WAREHOUSE_DB WORKER_ID

``collect`` ingests every request of the JSON Lines file through a pipeline
whose queue is the Redis URL, printing ``ingested N`` at the end. ``work``
runs a :class:`~d8a.scaleout.worker.ScaledWorker` writing to the SQLite
warehouse: it prints ``ready``, then a ``step`` line after each step that
handled deliveries, until SIGTERM makes it leave cleanly (``left``).
``tests/test_redis_processes.py`` imports :func:`build` and the settings.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from typing import Any

from d8a.clock import ManualClock
from d8a.pipeline import Pipeline
from d8a.queue.redis import RedisQueue
from d8a.scaleout.worker import ScaledWorker

PARTITIONS = 8
LEASE_TTL = 2.0
CLAIM_AFTER = 5.0


def build(queue: RedisQueue, warehouse: str = "memory://") -> Pipeline:
    """The pipeline every process runs (the worker's warehouse is a SQLite file)."""
    return (
        Pipeline.builder()
        .protocols("ga4", "d8a")
        .queue(queue)
        .partitions(PARTITIONS)
        .warehouse(warehouse)
        .clock(ManualClock())
        .pings(False)
        .build()
    )


def open_queue(url: str) -> RedisQueue:
    return RedisQueue(url, partitions=PARTITIONS, claim_after=CLAIM_AFTER)


def collect(url: str, path: str) -> None:
    with open(path) as lines:
        requests: list[dict[str, Any]] = [json.loads(line) for line in lines]
    pipeline = build(open_queue(url))
    for n, request in enumerate(requests, 1):
        status = pipeline.ingest(request).status
        if status != 204:
            raise SystemExit(f"request {request['id']} answered {status}")
        if n % 25 == 0:
            time.sleep(0.005)  # let the other collectors interleave
    pipeline.close()
    print(f"ingested {len(requests)}", flush=True)


def work(url: str, warehouse: str, worker_id: str) -> None:
    queue = open_queue(url)
    worker = ScaledWorker(
        build(queue, f"sqlite:///{warehouse}"),
        queue,
        lease_ttl=LEASE_TTL,
        pings=False,
        worker_id=worker_id,
    )
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    print("ready", flush=True)
    steps = 0
    while not stopping:
        if worker.step(max_tasks=20, timeout=0.05):
            steps += 1
            print(f"step {steps} partitions={worker.partitions}", flush=True)
    worker.close()
    print("left", flush=True)


if __name__ == "__main__":
    role, *args = sys.argv[1:]
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s {role} {args[-1]} %(name)s %(message)s"
    )
    collect(*args) if role == "collect" else work(*args)
