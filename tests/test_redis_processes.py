"""Scale-out end to end: 4 collector and 3 worker processes on one Redis server.

The collectors ingest generated traffic (each the visitors of its partitions, as
a load balancer that is sticky by visitor would send them) while the workers
share the partitions by lease. One worker is SIGKILLed mid-run and another
started; the others then leave cleanly and a last worker takes every partition
over and closes what is still open. The warehouse must then hold exactly the
rows of ``d8a.replay`` of the same requests: ids, session ids and every column.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import pytest
import redis

import d8a
from d8a.queue.memory import MemoryQueue
from d8a.testing import generate_traffic

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "scaleout_processes.py"
COLLECTORS = 4
TIMEOUT = 60.0

_spec = importlib.util.spec_from_file_location("d8a_scaleout_processes", SCRIPT)
assert _spec is not None and _spec.loader is not None
processes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(processes)


class Process:
    """A child whose output goes to a file, read back to wait for its lines."""

    def __init__(
        self, args: list[str], out: Path, log: IO[str], children: list[subprocess.Popen[Any]]
    ) -> None:
        self.out = out
        with open(out, "w") as stdout:
            self.proc = subprocess.Popen(
                [sys.executable, str(SCRIPT), *args], stdout=stdout, stderr=log
            )
        children.append(self.proc)  # killed if the test fails half-way

    def lines(self, prefix: str) -> int:
        return sum(line.startswith(prefix) for line in self.out.read_text().splitlines())

    def wait_for(self, prefix: str, n: int = 1) -> None:
        deadline = time.monotonic() + TIMEOUT
        while self.lines(prefix) < n:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{self.out.name}: no {n} {prefix!r} lines (exit {self.proc.poll()})")
            time.sleep(0.02)

    def finish(self, sig: int | None = None) -> int:
        if sig is not None:
            os.kill(self.proc.pid, sig)
        return self.proc.wait(TIMEOUT)


def collector_of(requests: list[dict[str, Any]]) -> list[int]:
    """The collector of each request: its partition (as the pipeline computes it)
    modulo the collectors, so each partition's stream has one publisher."""
    queue = MemoryQueue()
    pipeline = processes.build(queue)  # type: ignore[arg-type]  # any queue object will do
    consumer = queue.consumer()
    result = []
    for request in requests:
        assert pipeline.ingest(request).status == 204
        deliveries = consumer.receive(1000)
        consumer.ack([d.receipt for d in deliveries])
        (partition,) = {d.task.partition for d in deliveries}
        result.append(partition % COLLECTORS)
    return result


def as_json(request: dict[str, Any]) -> dict[str, Any]:
    body = request.get("body")
    return {**request, "body": body.decode()} if isinstance(body, bytes) else request


Rows = dict[str, tuple[Any, ...]]


def read_rows(path: Path) -> Rows:
    with sqlite3.connect(path) as conn:
        cursor = conn.execute('SELECT * FROM "events"')
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    by_id = {row[names.index("id")]: row for row in rows}
    assert len(by_id) == len(rows), "duplicate rows"
    return by_id


def lag(queue: Any) -> int:
    client = queue.client
    groups = [client.xinfo_groups(queue.stream(p))[0] for p in range(queue.partitions)]
    return sum(int(group["lag"] or 0) for group in groups)


@pytest.mark.slow
def test_collectors_and_workers_match_replay_through_a_sigkill(
    redis_url: str, tmp_path: Path, children: list[subprocess.Popen[Any]]
) -> None:
    requests = list(generate_traffic(visitors=120, seed=17))
    d8a.replay(requests, warehouse=f"sqlite:///{tmp_path / 'reference.db'}")
    expected = read_rows(tmp_path / "reference.db")
    shares: list[list[dict[str, Any]]] = [[] for _ in range(COLLECTORS)]
    for request, collector in zip(requests, collector_of(requests), strict=True):
        shares[collector].append(request)
    assert all(shares)
    warehouse = str(tmp_path / "events.db")

    with open(tmp_path / "children.log", "w") as log:

        def worker(name: str) -> Process:
            return Process(
                ["work", redis_url, warehouse, name], tmp_path / f"{name}.out", log, children
            )

        workers = [worker(f"w{n}") for n in range(3)]
        for child in workers:
            child.wait_for("ready")
        collectors = []
        for n, share in enumerate(shares):
            path = tmp_path / f"requests-{n}.jsonl"
            path.write_text("".join(json.dumps(as_json(r)) + "\n" for r in share))
            out = tmp_path / f"c{n}.out"
            collectors.append(Process(["collect", redis_url, str(path)], out, log, children))
        workers[0].wait_for("step ", 3)
        assert workers[0].finish(signal.SIGKILL) == -signal.SIGKILL  # mid-run
        workers.append(worker("w3"))
        workers[-1].wait_for("ready")
        for collector in collectors:
            assert collector.finish() == 0
        queue = processes.open_queue(redis_url)
        deadline = time.monotonic() + TIMEOUT
        while lag(queue) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lag(queue) == 0
        for child in workers[1:]:
            assert child.finish(signal.SIGTERM) == 0
            assert child.lines("left") == 1
        assert all(child.lines("step ") for child in workers[1:])
    written_by_workers = len(read_rows(Path(warehouse)))
    assert 0 < written_by_workers < len(expected)

    from d8a.scaleout.worker import ScaledWorker

    pipeline = processes.build(queue, f"sqlite:///{warehouse}")
    last = ScaledWorker(pipeline, queue, lease_ttl=processes.LEASE_TTL, pings=False)
    with last:
        deadline = time.monotonic() + TIMEOUT
        while last.partitions != list(range(processes.PARTITIONS)):  # w0's leases expire
            assert time.monotonic() < deadline, lease_state(redis_url, last)
            last.rebalance()
            time.sleep(0.05)
        last.flush()
    pipeline.close()

    assert queue.pending() == 0
    rows = read_rows(Path(warehouse))
    missing, extra = expected.keys() - rows.keys(), rows.keys() - expected.keys()
    assert not missing and not extra, (sorted(missing)[:5], sorted(extra)[:5])
    different = [key for key in expected if rows[key] != expected[key]]
    assert not different, describe(warehouse, rows, expected, different)


def lease_state(url: str, worker: Any) -> str:
    """What the leases look like, for a worker that does not get all partitions."""
    with redis.Redis.from_url(url) as client:
        keys = sorted(client.scan_iter(match="d8a:queue:*:lease:*"))
        members = sorted(client.scan_iter(match="d8a:queue:*:member:*"))
        leases = {k.decode(): (client.get(k), client.pttl(k)) for k in keys}
    return (
        f"worker {worker.leases.worker_id} runs {worker.partitions},"
        f" owns {worker.leases.owned()}; members {members}; leases {leases}"
    )


def describe(path: str, rows: Rows, expected: Rows, different: list[str]) -> str:
    with sqlite3.connect(path) as conn:
        names = [d[0] for d in conn.execute('SELECT * FROM "events" LIMIT 0').description]
    lines = [f"{len(different)} rows differ from replay's, e.g.:"]
    for key in different[:5]:
        pairs = zip(names, rows[key], expected[key], strict=True)
        lines.append(
            f"  {key}: " + ", ".join(f"{n}={a!r} (not {b!r})" for n, a, b in pairs if a != b)
        )
    return "\n".join(lines)
