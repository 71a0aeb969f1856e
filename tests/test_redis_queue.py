"""The queue conformance suite on Redis Streams (a real server), and Redis specifics:
partitions, reclaiming a crashed consumer's messages, SIGKILL of a consuming process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from d8a.errors import ConfigurationError
from d8a.queue.base import Task
from d8a.queue.redis import RedisQueue
from d8a.queue.redis_consumer import RedisConsumer
from d8a.testing.queue_conformance import QueueBackend, QueueConformance


class TestRedisQueue(QueueConformance):
    @pytest.fixture
    def make_queue(self, redis_url: str) -> Callable[[], QueueBackend]:
        return lambda: RedisQueue(redis_url)


def _tasks(numbers: range, partitions: int) -> list[Task]:
    return [Task("test", str(n).encode(), {"n": str(n)}, n % partitions) for n in numbers]


def test_partitions_keep_their_own_order(redis_url: str) -> None:
    queue = RedisQueue(redis_url, partitions=4)
    with queue.publisher() as publisher:
        publisher.publish(_tasks(range(200), 13))  # partition numbers above the count
    assert queue.pending() == 200
    with queue.consumer() as consumer:
        received = consumer.receive(max_tasks=1000)
        consumer.ack([d.receipt for d in received])
    assert sorted(int(d.task.body) for d in received) == list(range(200))
    for stream in range(4):
        mine = [int(d.task.body) for d in received if d.task.partition % 4 == stream]
        assert mine == sorted(mine) and mine
        assert all(d.receipt.startswith(f"{stream}:") for d in received if int(d.task.body) in mine)
    assert queue.pending() == 0


def test_consumers_of_disjoint_partitions_split_the_work(redis_url: str) -> None:
    queue = RedisQueue(redis_url, partitions=4)
    with queue.publisher() as publisher:
        publisher.publish(_tasks(range(40), 4))
    with queue.consumer([0, 1]) as low, queue.consumer([2, 3]) as high:
        a, b = low.receive(100), high.receive(100)
    assert {d.task.partition for d in a} == {0, 1}
    assert {d.task.partition for d in b} == {2, 3}
    assert len(a) + len(b) == 40


def test_a_crashed_consumers_messages_are_reclaimed_after_claim_after(redis_url: str) -> None:
    queue = RedisQueue(redis_url, claim_after=1.0)
    with queue.publisher() as publisher:
        publisher.publish(_tasks(range(3), 1))
    crashed = queue.consumer()
    assert len(crashed.receive()) == 3  # then never acked, released or closed
    other = queue.consumer()
    assert other.receive() == []  # not idle long enough
    time.sleep(1.05)
    again = other.receive()
    assert [(d.task.body, d.attempt) for d in again] == [(b"0", 2), (b"1", 2), (b"2", 2)]
    other.ack([d.receipt for d in again])
    assert queue.pending() == 0


def test_an_open_consumer_keeps_its_messages(redis_url: str) -> None:
    queue = RedisQueue(redis_url, claim_after=1.0)
    with queue.publisher() as publisher:
        publisher.publish(_tasks(range(2), 1))
    holder, other = queue.consumer(), queue.consumer()
    held = holder.receive()
    for _ in range(15):  # 1.5 s, well past claim_after: the holder keeps them fresh
        time.sleep(0.1)
        assert holder.receive() == []
        assert other.receive() == []
    holder.ack([d.receipt for d in held])
    assert queue.pending() == 0


def test_take_over_claims_at_once(redis_url: str) -> None:
    queue = RedisQueue(redis_url, partitions=2)
    with queue.publisher() as publisher:
        publisher.publish(_tasks(range(4), 2))
    gone = queue.consumer([0])
    assert len(gone.receive()) == 2
    successor = queue.consumer([1])
    assert isinstance(successor, RedisConsumer)
    successor.assign([0, 1], take_over=True)
    again = successor.receive()
    assert sorted((d.task.body, d.attempt) for d in again) == [
        (b"0", 2), (b"1", 1), (b"2", 2), (b"3", 1)
    ]  # fmt: skip


def test_assign_hands_back_what_it_drops(redis_url: str) -> None:
    queue = RedisQueue(redis_url, partitions=2)
    with queue.publisher() as publisher:
        publisher.publish(_tasks(range(4), 2))
    consumer = queue.consumer()
    assert isinstance(consumer, RedisConsumer)
    assert len(consumer.receive()) == 4
    consumer.assign([1])
    with queue.consumer([0]) as other:
        assert sorted(d.task.body for d in other.receive()) == [b"0", b"2"]


_CONSUME = """
import sys, time
from d8a.queue.redis import RedisQueue
consumer = RedisQueue(sys.argv[1], claim_after=0.5).consumer()
got = consumer.receive(max_tasks=2, timeout=10)
consumer.ack([got[0].receipt])
print("ready", flush=True)
time.sleep(60)
"""


def test_sigkilled_consumer_loses_nothing(
    redis_url: str, children: list[subprocess.Popen[Any]]
) -> None:
    queue = RedisQueue(redis_url, claim_after=0.5)
    with queue.publisher() as publisher:
        publisher.publish(_tasks(range(5), 1))
    child = subprocess.Popen(
        [sys.executable, "-c", _CONSUME, redis_url], stdout=subprocess.PIPE, text=True
    )
    children.append(child)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    attempts: dict[bytes, int] = {}
    deadline = time.monotonic() + 30
    with queue.consumer() as consumer:
        while len(attempts) < 4 and time.monotonic() < deadline:
            received = consumer.receive(timeout=0.1)  # "1" once idle for claim_after
            attempts.update((d.task.body, d.attempt) for d in received)
            consumer.ack([d.receipt for d in received])
    assert attempts == {b"1": 2, b"2": 1, b"3": 1, b"4": 1}
    assert queue.pending() == 0


def test_dead_letters_are_another_queue(redis_url: str) -> None:
    queue = RedisQueue(redis_url)
    dead = queue.dead_letters()
    with dead.publisher() as publisher:
        publisher.publish([Task("test", b"bad")])
    assert queue.pending() == 0 and dead.pending() == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"name": "a b"}, "queue"), ({"partitions": 0}, "partitions"), ({"claim_after": 0}, "claim")],
)
def test_settings_are_validated(redis_url: str, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RedisQueue(redis_url, **kwargs)  # type: ignore[arg-type]  # deliberately mixed


class TestRedisQueueOfFourPartitions(QueueConformance):
    """Publication order holds across partitions too: one consumer merges the streams."""

    @pytest.fixture
    def make_queue(self, redis_url: str) -> Callable[[], QueueBackend]:
        return lambda: RedisQueue(redis_url, partitions=4)


def test_merge_waits_for_a_stream_that_may_hold_older_entries(redis_url: str) -> None:
    queue = RedisQueue(redis_url, partitions=2)
    with queue.publisher() as publisher:
        # Partition 0 gets 0..4, then partition 1 gets 5..9, then 0 again 10..14.
        publisher.publish(_tasks(range(0, 5), 1))
        publisher.publish([Task("test", str(n).encode(), {}, 1) for n in range(5, 10)])
        publisher.publish(_tasks(range(10, 15), 1))
    with queue.consumer() as consumer:
        bodies: list[int] = []
        while batch := consumer.receive(max_tasks=3):
            bodies += [int(d.task.body) for d in batch]
            consumer.ack([d.receipt for d in batch])
    assert bodies == list(range(15))


def test_reclaim_reaches_past_a_long_pending_list(redis_url: str) -> None:
    # XAUTOCLAIM looks at 10 * count entries a call: the dead consumer's messages lie
    # behind 600 that a live consumer holds, so finding them takes several receives.
    queue = RedisQueue(redis_url, claim_after=0.5)
    with queue.publisher() as publisher:
        publisher.publish(_tasks(range(700), 1))
    live, dead = queue.consumer(), queue.consumer()
    assert len(live.receive(max_tasks=600)) == 600
    assert len(dead.receive(max_tasks=100)) == 100  # then never acked, released or closed
    time.sleep(0.55)
    again: list[bytes] = []
    deadline = time.monotonic() + 20
    while len(again) < 100 and time.monotonic() < deadline:
        batch = live.receive(max_tasks=5)
        assert all(d.attempt == 2 for d in batch)
        again += [d.task.body for d in batch]
    assert sorted(int(body) for body in again) == list(range(600, 700))
