"""Several ScaledWorkers on one Redis queue and state (threads of this process):
workers join, leave and crash while traffic flows; no partition is ever processed
by two workers at once, and the rows are exactly those of ``d8a.replay``."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

import d8a
from d8a.clock import ManualClock
from d8a.pipeline import Pipeline
from d8a.queue.redis import RedisQueue
from d8a.runner import WorkerLoop
from d8a.scaleout.worker import ScaledWorker
from d8a.testing import generate_traffic

PARTITIONS = 8
LEASE_TTL = 1.0


def build(queue: RedisQueue, warehouse: Path) -> Pipeline:
    return (
        Pipeline.builder()
        .protocols("ga4", "d8a")
        .queue(queue)
        .partitions(queue.partitions)
        .warehouse(f"sqlite:///{warehouse}")
        .clock(ManualClock())
        .pings(False)
        .build()
    )


def read_rows(path: Path) -> dict[str, tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        cursor = conn.execute('SELECT * FROM "events"')
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    by_id = {row[names.index("id")]: row for row in rows}
    assert len(by_id) == len(rows), "duplicate rows"
    return by_id


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def lag(queue: RedisQueue) -> int:
    """Entries not yet delivered to any consumer, over every partition."""
    client = queue.client
    return sum(int(client.xinfo_groups(queue.stream(p))[0]["lag"] or 0) for p in range(PARTITIONS))


class Watched(ScaledWorker):
    """Marks a partition busy in Redis while stepping it, and counts overlaps."""

    def step_partition(self, partition: int, loop: WorkerLoop, max_tasks: int) -> int:
        client: redis.Redis = self._queue.client
        me = self.leases.worker_id.encode()
        if not client.set(f"test:busy:{partition}", me, nx=True):
            client.incr("test:overlaps")
            other = client.get(f"test:busy:{partition}")
            lease = client.get(f"d8a:queue:hits:lease:{partition}")
            client.rpush(
                "test:overlap-log",
                f"{partition}: {other!r} busy, {me!r} steps; lease {lease!r}",
            )
        client.sadd(f"test:owners:{partition}", me)
        try:
            return super().step_partition(partition, loop, max_tasks)
        finally:
            if client.get(f"test:busy:{partition}") == me:
                client.delete(f"test:busy:{partition}")


def test_workers_join_leave_and_crash_without_overlap(redis_url: str, tmp_path: Path) -> None:
    requests = list(generate_traffic(visitors=120, seed=21))
    d8a.replay(requests, warehouse=f"sqlite:///{tmp_path / 'reference.db'}")
    expected = read_rows(tmp_path / "reference.db")

    queue = RedisQueue(redis_url, partitions=PARTITIONS)
    warehouse = tmp_path / "events.db"
    ingesting = build(queue, warehouse)
    chunks = [requests[n * len(requests) // 4 : (n + 1) * len(requests) // 4] for n in range(4)]

    def worker(name: str) -> Watched:
        made = Watched(build(queue, warehouse), queue, lease_ttl=LEASE_TTL, worker_id=name)
        made.start(poll=0.05)
        return made

    def feed(chunk: list[dict[str, Any]]) -> None:
        """Ingest while the workers run, then wait until every hit was delivered."""
        for request in chunk:
            assert ingesting.ingest(request).status == 204
        wait_until(lambda: lag(queue) == 0)

    a, b = worker("a"), worker("b")
    wait_until(lambda: len(a.partitions) + len(b.partitions) == PARTITIONS)
    feed(chunks[0])
    c = worker("c")  # joins
    wait_until(lambda: bool(c.partitions))
    feed(chunks[1])
    b.close()  # leaves cleanly
    feed(chunks[2])
    crashed = a.partitions
    a.stop()  # "crashes": stops working, keeps its leases and messages until they expire
    d = worker("d")
    wait_until(lambda: sorted(c.partitions + d.partitions) == list(range(PARTITIONS)))
    feed(chunks[3])
    c.close()
    d.close()
    written_by_workers = len(read_rows(warehouse))
    assert 0 < written_by_workers < len(expected)

    with Watched(build(queue, warehouse), queue, lease_ttl=LEASE_TTL, worker_id="z") as last:
        while last.partitions != list(range(PARTITIONS)):  # a's leases expire
            last.rebalance()
            time.sleep(LEASE_TTL / 6)
        last.flush()
    ingesting.close()

    client = queue.client
    assert int(client.get("test:overlaps") or 0) == 0, client.lrange("test:overlap-log", 0, -1)
    owners = [{o.decode() for o in client.smembers(f"test:owners:{p}")} for p in range(PARTITIONS)]
    assert any(len(names) > 1 for names in owners), owners  # joins and leaves moved some
    assert all(owners[p] & {"c", "d"} for p in crashed), owners  # the crashed one's were taken
    assert "d" in set().union(*owners)
    assert queue.pending() == 0
    rows = read_rows(warehouse)
    assert rows.keys() == expected.keys()
    assert rows == expected


def test_a_step_that_outlives_its_lease_changes_nothing(redis_url: str, tmp_path: Path) -> None:
    """The mechanism of the multi-process test's old failure (1 run in 6): worker a's
    lease renewals came late on a loaded machine, the lease expired while a still
    stepped, b took the partition over and rebuilt its wheel from the state, and a's
    late step then opened visitor V's protosession in that state. b's wheel never
    knew it, so it never expired, and V's next hits joined it across a 60-minute gap.
    The fence makes a's late step fail before it reads or writes anything."""
    from d8a._redis import LeaseLostError
    from tests.conftest import T0, ga4

    early = [ga4(cid="1.1", at=T0 + n * 60, id=f"v{n}") for n in range(3)]
    later = [ga4(cid="2.2", at=T0 + 2400, id="w0"), ga4(cid="1.1", at=T0 + 3600, id="v9")]
    d8a.replay([*early, *later], warehouse=f"sqlite:///{tmp_path / 'reference.db'}")
    expected = read_rows(tmp_path / "reference.db")
    assert sessions(tmp_path / "reference.db") == 3  # V's, W's, and V's after the gap

    queue = RedisQueue(redis_url, partitions=1, claim_after=5.0)
    warehouse = tmp_path / "events.db"
    ingesting = build(queue, warehouse)
    a = ScaledWorker(build(queue, warehouse), queue, lease_ttl=0.5, pings=False, worker_id="a")
    a.rebalance()
    assert a.partitions == [0]
    late_loop = a._loops[0][0]
    a.stop()  # its lease renewals stop: they come too late from now on
    b = ScaledWorker(build(queue, warehouse), queue, lease_ttl=5.0, pings=False, worker_id="b")
    wait_until(lambda: (b.rebalance(), b.partitions)[1] == [0], timeout=10)

    for request in early:
        assert ingesting.ingest(request).status == 204
    with pytest.raises(LeaseLostError):
        a.step_partition(0, late_loop, 100)  # the step that began before the expiry
    a.close()  # as a.step() does when it catches LeaseLostError: drops the partition
    for request in later:
        assert ingesting.ingest(request).status == 204
    b.step(max_tasks=100)
    b.flush()
    b.close()
    ingesting.close()
    assert queue.pending() == 0
    assert read_rows(warehouse) == expected


def sessions(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        (count,) = conn.execute('SELECT COUNT(DISTINCT "session_id") FROM "events"').fetchone()
    return int(count)


def test_a_partition_whose_lease_went_to_another_is_dropped(redis_url: str, tmp_path: Path) -> None:
    """The worker still thinks it holds the leases (its clock says so), but Redis says
    another worker has them: its next step touches nothing and drops both."""
    from tests.conftest import T0, ga4

    queue = RedisQueue(redis_url, partitions=2)
    worker = ScaledWorker(build(queue, tmp_path / "events.db"), queue, pings=False)
    worker.rebalance()
    assert worker.partitions == [0, 1]
    with build(queue, tmp_path / "events.db") as ingesting:
        assert ingesting.ingest(ga4(cid="1.1", at=T0, id="h1")).status == 204
    for partition in (0, 1):
        queue.client.set(f"d8a:queue:hits:lease:{partition}", b"another")
    assert worker.step(max_tasks=10) == 0
    assert worker.partitions == []
    assert queue.pending() == 1  # still there for the other worker, never delivered here
    assert sum(int(g["lag"] or 0) for g in [queue.client.xinfo_groups(queue.stream(p))[0]
                                            for p in (0, 1)]) == 1  # fmt: skip
    worker.close()
    assert {queue.client.get(f"d8a:queue:hits:lease:{p}") for p in (0, 1)} == {b"another"}
