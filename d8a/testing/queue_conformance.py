"""A reusable pytest suite that every queue backend must pass.

Subclass it in a test module (its name starting with ``Test``) and provide the
``make_queue`` fixture: a factory that opens the *same* queue each time it is
called, initially empty for each test, so that the suite can simulate a
restart::

    class TestMyQueue(QueueConformance):
        @pytest.fixture
        def make_queue(self, tmp_path):
            return lambda: MyQueue(tmp_path / "queue.db")
"""

from __future__ import annotations

import threading
import time
import typing as t
from collections.abc import Callable

import pytest

from d8a.queue.base import Consumer, Delivery, Publisher, Task

__all__ = ["QueueBackend", "QueueConformance"]


class QueueBackend(t.Protocol):
    """What a queue suite needs: something that opens publishers and consumers."""

    def publisher(self) -> Publisher: ...

    def consumer(self) -> Consumer: ...


def _task(n: int, partition: int = 0) -> Task:
    return Task("test", str(n).encode(), {"n": str(n)}, partition)


def _bodies(deliveries: list[Delivery]) -> list[bytes]:
    return [delivery.task.body for delivery in deliveries]


def _fields(task: Task) -> tuple[object, ...]:
    return task.type, task.body, dict(task.headers), task.partition


class QueueConformance:
    """The ``Publisher``/``Consumer`` contract. Provide a ``make_queue`` fixture:
    ``() -> QueueBackend``, each call opening the same, initially empty, queue."""

    @pytest.fixture
    def queue(self, make_queue: Callable[[], QueueBackend]) -> QueueBackend:
        return make_queue()

    def _publish(self, queue: QueueBackend, *numbers: int) -> None:
        with queue.publisher() as publisher:
            publisher.publish([_task(n) for n in numbers])

    def test_publication_order_and_max_tasks(self, queue: QueueBackend) -> None:
        self._publish(queue, 0, 1, 2)
        self._publish(queue, 3, 4)
        with queue.consumer() as consumer:
            assert _bodies(consumer.receive(max_tasks=2)) == [b"0", b"1"]
            assert _bodies(consumer.receive(max_tasks=10)) == [b"2", b"3", b"4"]
            assert consumer.receive() == []

    def test_task_round_trip(self, queue: QueueBackend) -> None:
        task = Task("process-hits", bytes(range(256)), {"is-ping": "true", "é": "\x00"}, 7)
        with queue.publisher() as publisher:
            publisher.publish([task, Task("other", b"")])
            publisher.publish([])
        with queue.consumer() as consumer:
            first, second = consumer.receive()
        assert _fields(first.task) == _fields(task)
        assert _fields(second.task) == ("other", b"", {}, 0)
        assert first.attempt == 1 and not first.redelivered
        assert first.receipt != second.receipt

    def test_receive_timeout_when_empty(self, queue: QueueBackend) -> None:
        with queue.consumer() as consumer:
            assert consumer.receive() == []
            assert consumer.pending() == 0
            started = time.monotonic()
            assert consumer.receive(timeout=0.05) == []
            assert time.monotonic() - started >= 0.04

    def test_receive_waits_for_a_publish(self, queue: QueueBackend) -> None:
        timer = threading.Timer(0.05, self._publish, (queue, 1))
        with queue.consumer() as consumer:
            timer.start()
            try:
                assert _bodies(consumer.receive(timeout=10)) == [b"1"]
            finally:
                timer.join()

    def test_no_second_delivery_to_an_open_consumer(self, queue: QueueBackend) -> None:
        self._publish(queue, 1, 2)
        with queue.consumer() as consumer:
            assert len(consumer.receive()) == 2
            self._publish(queue, 3)
            assert _bodies(consumer.receive()) == [b"3"]
            assert consumer.receive() == []

    def test_ack_is_idempotent(self, queue: QueueBackend) -> None:
        self._publish(queue, 1, 2)
        with queue.consumer() as consumer:
            receipts = [d.receipt for d in consumer.receive()]
            consumer.ack(receipts[:1])
            consumer.ack(receipts[:1])
            consumer.ack(["unknown", "99999999", ""])
            consumer.ack([])
            assert consumer.pending() == 1

    def test_unacked_are_redelivered_to_a_new_consumer(self, queue: QueueBackend) -> None:
        self._publish(queue, 1, 2, 3)
        with queue.consumer() as consumer:
            first = consumer.receive()
            consumer.ack([first[1].receipt])
        with queue.consumer() as consumer:
            again = consumer.receive()
            assert _bodies(again) == [b"1", b"3"]
            assert [d.attempt for d in again] == [2, 2]
            assert all(d.redelivered for d in again)
        with queue.consumer() as consumer:
            assert [d.attempt for d in consumer.receive()] == [3, 3]

    def test_reopened_queue_keeps_tasks(self, make_queue: Callable[[], QueueBackend]) -> None:
        self._publish(make_queue(), 1, 2)
        with make_queue().consumer() as consumer:
            deliveries = consumer.receive()
            assert _bodies(deliveries) == [b"1", b"2"]
            consumer.ack([deliveries[0].receipt])
        with make_queue().consumer() as consumer:
            assert [(d.task.body, d.attempt) for d in consumer.receive()] == [(b"2", 2)]

    def test_release(self, queue: QueueBackend) -> None:
        self._publish(queue, 1, 2, 3)
        with queue.consumer() as consumer:
            _, two = consumer.receive(max_tasks=2)
            consumer.release([two.receipt, "unknown"])
            again = consumer.receive()
            assert [(d.task.body, d.attempt) for d in again] == [(b"2", 2), (b"3", 1)]
            assert again[0].redelivered
            consumer.ack([d.receipt for d in again])
            consumer.release([two.receipt])  # already acknowledged: nothing comes back
            assert consumer.receive() == []
            assert consumer.pending() == 1

    def test_pending(self, queue: QueueBackend) -> None:
        self._publish(queue, *range(5))
        with queue.consumer() as consumer:
            assert consumer.pending() == 5
            deliveries = consumer.receive(max_tasks=3)
            assert consumer.pending() == 5
            consumer.ack([d.receipt for d in deliveries])
            assert consumer.pending() == 2

    def test_publish_many(self, queue: QueueBackend) -> None:
        with queue.publisher() as publisher:
            publisher.publish([_task(n, partition=n % 4) for n in range(2000)])
        received: list[Delivery] = []
        with queue.consumer() as consumer:
            while batch := consumer.receive(max_tasks=300):
                received += batch
                consumer.ack([d.receipt for d in batch])
            assert consumer.pending() == 0
        assert _bodies(received) == [str(n).encode() for n in range(2000)]
        assert [d.task.partition for d in received] == [n % 4 for n in range(2000)]

    def test_publish_from_threads(self, queue: QueueBackend) -> None:
        publisher = queue.publisher()

        def publish(thread: int) -> None:
            for n in range(50):
                publisher.publish([Task("test", f"{thread}:{n}".encode())])

        threads = [threading.Thread(target=publish, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        publisher.close()
        with queue.consumer() as consumer:
            bodies = _bodies(consumer.receive(max_tasks=1000))
        for i in range(4):
            mine = [b for b in bodies if b.startswith(f"{i}:".encode())]
            assert mine == [f"{i}:{n}".encode() for n in range(50)]
        assert len(bodies) == 200
