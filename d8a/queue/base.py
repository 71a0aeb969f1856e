"""The queue's extension points: Task, Publisher, Consumer, Worker, Middleware.

Semantics are deliberately simple (as in the original): a publisher appends
tasks to one named queue, a consumer receives them in publication order and
acknowledges each once its work is durable elsewhere. Delivery is
at-least-once: a task received but never acknowledged is delivered again to
the next consumer that opens the queue (after a restart, say).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from d8a.lifecycle import Closeable

__all__ = [
    "Consumer",
    "Delivery",
    "Middleware",
    "Publisher",
    "Task",
    "TaskHandler",
    "Worker",
]

HIT_BATCH = "process-hits"
"""Task type of a batch of hits (body: :func:`d8a.encoding.encode_batch`)."""


@dataclass(frozen=True, slots=True)
class Task:
    """A unit of work: a type, string headers and an opaque body.

    ``partition`` is the stable partition number the publisher chose (see
    :func:`d8a.hits.partition_key`); backends that shard keep a partition's
    tasks in order on one consumer.
    """

    type: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    partition: int = 0


@dataclass(frozen=True, slots=True)
class Delivery:
    """A task as handed to a consumer, with what is needed to acknowledge it.

    ``receipt`` identifies this delivery to :meth:`Consumer.ack`; ``attempt`` is
    1 the first time the task is delivered and grows with each redelivery.
    """

    task: Task
    receipt: str
    attempt: int = 1

    @property
    def redelivered(self) -> bool:
        """True when an earlier delivery of this task was never acknowledged."""
        return self.attempt > 1


class Publisher(Closeable, ABC):
    """Appends tasks to a queue."""

    @abstractmethod
    def publish(self, tasks: Sequence[Task]) -> None:
        """Append ``tasks`` in order. When this returns they are durable (as the
        backend defines it). May be retried after a ``TransientError``; a retry
        may then duplicate tasks, which consumers tolerate. Thread-safe."""


class Consumer(Closeable, ABC):
    """Receives tasks from a queue and acknowledges them."""

    @abstractmethod
    def receive(self, max_tasks: int = 100, timeout: float = 0.0) -> list[Delivery]:
        """Return up to ``max_tasks`` deliveries in publication order, waiting up to
        ``timeout`` seconds for the first one; ``[]`` when there is none.

        A task is not handed out twice to the same open consumer unless
        :meth:`release` gave it back."""

    @abstractmethod
    def ack(self, receipts: Sequence[str]) -> None:
        """Mark deliveries done; their tasks are never delivered again. Idempotent:
        acknowledging an unknown or already acknowledged receipt is a no-op."""

    def release(self, receipts: Sequence[str]) -> None:  # optional
        """Give unacknowledged deliveries back so that they are delivered again.
        The default does nothing: they come back when the queue is next opened."""

    def pending(self) -> int:
        """Tasks published and not yet acknowledged (for monitoring and tests)."""
        raise NotImplementedError


TaskHandler = Callable[[Delivery], None]
"""Handles one delivery; raises ``TransientError`` to have it delivered again."""


class Middleware(ABC):
    """Wraps the handling of a delivery, like a WSGI middleware wraps an app."""

    @abstractmethod
    def handle(self, delivery: Delivery, call_next: TaskHandler) -> None:
        """Do something around ``call_next(delivery)``; may skip it."""


class Worker:
    """Routes deliveries to the handler registered for their task type.

    Middlewares run outermost first. A delivery of an unknown type raises
    ``KeyError``: the wiring is wrong and the task must not be silently acknowledged.
    """

    def __init__(
        self,
        handlers: Mapping[str, TaskHandler],
        middlewares: Sequence[Middleware] = (),
    ) -> None:
        self._handlers = dict(handlers)
        chain: TaskHandler = self._dispatch
        for middleware in reversed(middlewares):
            chain = _bind(middleware, chain)
        self._chain = chain

    def _dispatch(self, delivery: Delivery) -> None:
        self._handlers[delivery.task.type](delivery)

    def process(self, delivery: Delivery) -> None:
        """Run one delivery through the middlewares and its handler."""
        self._chain(delivery)


def _bind(middleware: Middleware, call_next: TaskHandler) -> TaskHandler:
    def handler(delivery: Delivery) -> None:
        middleware.handle(delivery, call_next)

    return handler
