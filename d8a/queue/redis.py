"""A queue on Redis Streams: one stream per partition, one consumer group, late acks.

A task goes to the stream ``<prefix>:<name>:<p>`` with ``p = task.partition %
partitions``, so a visitor's tasks stay in order in one stream. Consumers read
with ``XREADGROUP`` in the group ``group``; a delivery stays in the group's
pending list until :meth:`Consumer.ack`, which ``XACK``s and ``XDEL``s it, so
the streams hold exactly the unacknowledged tasks and nothing is ever trimmed.

Publication order is kept across partitions too: a Lua script numbers the
tasks of the whole queue from one counter (``<prefix>:<name>:seq``) and uses
the number as the stream entry id (``<n>-0``), and a consumer of several
streams merges them by it (see :mod:`d8a.queue.redis_consumer`).

Crash recovery: an open consumer keeps the messages it holds fresh (it resets
their idle time with ``XCLAIM ... JUSTID`` every ``claim_after / 3`` seconds,
from ``receive``). Messages whose holder stopped doing that (it crashed) are
idle for longer than ``claim_after`` and are taken over by the next consumer
of that partition with ``XAUTOCLAIM``, ``attempt`` counting the deliveries. A
consumer closed cleanly, or ``release``, hands messages back at once.

Publishing is one script run per call: all tasks or none. It may be retried
after a ``TransientError``; the retry may duplicate tasks, which the worker
tolerates (redelivered hits that were written are skipped).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import cbor2
from typing_extensions import override

from d8a._redis import connect, transient
from d8a.errors import ConfigurationError
from d8a.queue.base import Consumer, Publisher, Task

__all__ = ["RedisQueue", "task_from_fields"]

_NAME = re.compile(r"[A-Za-z0-9_.-]+\Z")

_PUBLISH = """
local n = #KEYS - 1
local first = redis.call('INCRBY', KEYS[1], n) - n
for i = 1, n do
  local at = (i - 1) * 4
  redis.call('XADD', KEYS[i + 1], string.format('%d-0', first + i),
    't', ARGV[at + 1], 'p', ARGV[at + 2], 'h', ARGV[at + 3], 'b', ARGV[at + 4])
end
return first
"""


class RedisQueue:
    """The queue ``name`` with ``partitions`` streams on a Redis server; hands out
    publishers and consumers.

    ``client`` is a ``redis://host:port/db`` URL or a redis-py client. Creates
    the streams' consumer group ``group`` if needed (from the first message, so
    tasks published earlier are not skipped). ``claim_after`` is the idle time,
    in seconds, after which a crashed consumer's messages are reclaimed. Every
    process must use the same ``partitions`` for one queue.
    """

    def __init__(
        self,
        client: Any,
        name: str = "hits",
        partitions: int = 1,
        *,
        group: str = "d8a",
        prefix: str = "d8a:queue",
        claim_after: float = 60.0,
    ) -> None:
        if not _NAME.match(name) or not _NAME.match(group):
            raise ConfigurationError(f"queue {name!r}, group {group!r}: use letters, digits, _.-")
        if partitions < 1:
            raise ConfigurationError(f"partitions must be at least 1, got {partitions}")
        if claim_after <= 0:
            raise ConfigurationError(f"claim_after must be positive, got {claim_after}")
        self._client, self._owned = connect(client)
        self.name = name
        self.partitions = partitions
        self.group = group
        self.claim_after = claim_after
        self.prefix = prefix
        self._key = f"{prefix}:{name}"
        self._publish = self._client.register_script(_PUBLISH)
        with transient():
            for partition in range(partitions):
                try:
                    self._client.xgroup_create(self.stream(partition), group, id="0", mkstream=True)
                except Exception as exc:  # redis.ResponseError, imported lazily
                    if "BUSYGROUP" not in str(exc):
                        raise

    @property
    def client(self) -> Any:
        """The redis-py client."""
        return self._client

    def stream(self, partition: int) -> str:
        """The key of the stream that holds the tasks of ``partition``."""
        return f"{self._key}:{partition % self.partitions}"

    def publisher(self) -> Publisher:
        """A new publisher; thread-safe."""
        return _RedisPublisher(self)

    def consumer(self, partitions: Iterable[int] | None = None) -> Consumer:
        """A new consumer of ``partitions`` (default: all) in the queue's group."""
        from d8a.queue.redis_consumer import RedisConsumer

        return RedisConsumer(self, range(self.partitions) if partitions is None else partitions)

    def dead_letters(self) -> RedisQueue:
        """The queue that keeps the unreadable messages of this one."""
        name = f"{self.name}_dead_letters"
        return RedisQueue(self._client, name, group=self.group, prefix=self.prefix)

    def sibling(self, name: str, partitions: int = 1) -> RedisQueue:
        """Another queue on the same server, group and prefix (the closed queue of
        :mod:`d8a.sessions.async_closer` is ``sibling("closed")``)."""
        return RedisQueue(
            self._client,
            name,
            partitions,
            group=self.group,
            prefix=self.prefix,
            claim_after=self.claim_after,
        )

    def kv(self, name: str) -> Any:
        """A :class:`~d8a.storage.redis.RedisKV` on the queue's server, in the
        namespace ``<prefix>:<queue name>:<name>``."""
        from d8a.storage.redis import RedisKV

        return RedisKV(self._client, f"{self._key}:{name}")

    def pending(self) -> int:
        """Tasks published and not yet acknowledged, over every partition."""
        with transient(), self._client.pipeline(transaction=False) as pipe:
            for partition in range(self.partitions):
                pipe.xlen(self.stream(partition))
            return sum(cast(list[int], pipe.execute()))

    def close(self) -> None:
        """Close the connection pool if the queue opened it from a URL."""
        if self._owned:
            self._client.close()

    def __repr__(self) -> str:
        return f"RedisQueue({self.name!r}, partitions={self.partitions}, group={self.group!r})"


def task_from_fields(fields: Mapping[bytes, bytes]) -> Task:
    """The task of a stream entry, as :meth:`_RedisPublisher.publish` wrote it."""
    headers = cast(Mapping[str, str], cbor2.loads(fields[b"h"]))
    return Task(fields[b"t"].decode(), fields[b"b"], headers, int(fields[b"p"]))


class _RedisPublisher(Publisher):
    def __init__(self, queue: RedisQueue) -> None:
        self._queue = queue
        self._closed = False

    @override
    def publish(self, tasks: Sequence[Task]) -> None:
        if self._closed:
            raise ValueError("publisher is closed")
        if not tasks:
            return
        queue = self._queue
        keys = [f"{queue._key}:seq", *(queue.stream(task.partition) for task in tasks)]
        args: list[bytes] = []
        for task in tasks:
            args += [
                task.type.encode(),
                str(task.partition).encode(),
                cbor2.dumps(dict(task.headers)),
                task.body,
            ]
        with transient():
            queue._publish(keys=keys, args=args)

    @override
    def close(self) -> None:
        self._closed = True
