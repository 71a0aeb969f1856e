"""The consumer side of :class:`~d8a.queue.redis.RedisQueue`.

A consumer reads the streams of the partitions assigned to it and merges them
by the queue-wide sequence number in each entry id, so that deliveries come in
publication order. It hands a fresh entry out only when no unread entry of an
assigned stream can precede it: an entry up to the *horizon*, the least last
sequence number read of the streams that may hold more. Redeliveries (taken
with ``XAUTOCLAIM``) come first; they are older than anything unread (the
merge: :mod:`d8a.queue.redis_merge`).

Receipts are ``"<partition>:<entry id>"``.

With a :attr:`RedisConsumer.fence` (the scaled worker sets its partition
lease) every command that takes entries (reading, claiming, refreshing,
handing back) is fenced by the lease: once the lease is another worker's, they
raise :class:`~d8a._redis.LeaseLostError` instead of taking entries from under
the new owner, which would hand them to it later, out of order. A fenced
consumer never blocks in Redis (scripts cannot); it polls. The commands it
sends are in :mod:`d8a.queue.redis_commands`.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence

from typing_extensions import override

from d8a._redis import Fence, LeaseLostError
from d8a.queue.base import Consumer, Delivery
from d8a.queue.redis import RedisQueue, task_from_fields
from d8a.queue.redis_commands import GroupCommands
from d8a.queue.redis_merge import SequenceMerge

__all__ = ["RedisConsumer"]

_RECEIPT = re.compile(r"(\d+):(\d+-\d+)\Z")
_RELEASED = "d8a-released"
"""The consumer name that holds handed-back messages until someone claims them."""
_CHUNK = 1000
_POLL = 0.02
"""Seconds between the reads of a fenced consumer that waits."""


def _parse(receipts: Iterable[str]) -> Iterator[tuple[int, str]]:
    # Receipts from elsewhere are unknown, and acknowledging those is a no-op.
    for receipt in receipts:
        found = _RECEIPT.match(receipt)
        if found:
            yield int(found[1]), found[2]


class RedisConsumer(Consumer):
    """A consumer of some partitions of a :class:`RedisQueue`, under a unique name.

    Not thread-safe: one consumer belongs to one worker loop. :meth:`assign`
    changes the partitions it reads (see :mod:`d8a.scaleout`).
    """

    def __init__(self, queue: RedisQueue, partitions: Iterable[int]) -> None:
        self._queue = queue
        self.name = f"d8a-{uuid.uuid4().hex}"
        self._commands = GroupCommands(queue.client, queue.group, self.name)
        self._held: dict[int, set[str]] = {}
        """Entry ids delivered to this consumer (or buffered) and not yet acked."""
        self._merge = SequenceMerge()
        """What was read and not handed out yet."""
        self._partitions: list[int] = []
        self._reclaim: set[int] = set()
        self._cursor: dict[int, str] = {}
        """Partitions to scan for reclaimable messages, and where each scan has got to:
        ``XAUTOCLAIM`` looks at ``10 * count`` entries a call, so a long pending list
        takes several receives to get through."""
        self._next_scan = self._next_refresh = 0.0
        self._closed = False
        self.assign(partitions)

    @property
    def fence(self) -> Fence | None:
        """The lease that guards this consumer's partitions, if any (see the module)."""
        return self._commands.fence

    @fence.setter
    def fence(self, fence: Fence | None) -> None:
        self._commands.fence = fence

    @property
    def partitions(self) -> list[int]:
        """The partitions this consumer reads."""
        return list(self._partitions)

    def assign(self, partitions: Iterable[int], take_over: bool = False) -> None:
        """Read ``partitions`` from now on; what it holds of the others is handed back.

        With ``take_over``, the pending messages of newly added partitions are
        claimable at once, whoever holds them: only safe when their previous
        holder is known to be gone (as its expired lease says)."""
        chosen = sorted({p % self._queue.partitions for p in partitions})
        added = set(chosen) - set(self._partitions)
        dropped = set(self._partitions) - set(chosen)
        self._partitions = chosen
        self._reclaim |= added
        if take_over and added:
            self._release_all(added, only_others=True)
        if dropped:
            self.release([f"{p}:{sid}" for p in dropped for sid in self._held.get(p, ())])
            for partition in dropped:
                self._held.pop(partition, None)
                self._merge.forget(partition)
                self._cursor.pop(partition, None)
                self._reclaim.discard(partition)

    def _release_all(self, partitions: Iterable[int], only_others: bool) -> None:
        """Make every pending message of ``partitions`` claimable now."""
        for partition in partitions:
            ids = self._commands.pending_ids(self._queue.stream(partition), only_others)
            self._hand_back(partition, ids)

    def _hand_back(self, partition: int, ids: Sequence[str]) -> None:
        # An idle time past claim_after makes the next XAUTOCLAIM take them;
        # JUSTID leaves the delivery count alone.
        idle = int(self._queue.claim_after * 1000) + 1000
        stream = self._queue.stream(partition)
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            self._commands.xclaim(stream, _RELEASED, chunk, idle)
        self._reclaim.add(partition)
        self._cursor.pop(partition, None)  # rescan from the start: they may lie behind

    @override
    def receive(self, max_tasks: int = 100, timeout: float = 0.0) -> list[Delivery]:
        if max_tasks < 1:
            raise ValueError(f"max_tasks must be at least 1, got {max_tasks}")
        if self._closed:
            raise ValueError("consumer is closed")
        deadline = time.monotonic() + timeout
        self._housekeeping()
        for partition in sorted(self._reclaim):
            if self._merge.redeliveries < max_tasks:
                self._claim(partition, max_tasks - self._merge.redeliveries)
        while True:
            self._read(max_tasks, None)
            out = self._merge.take(max_tasks)
            remaining = deadline - time.monotonic()
            if out or remaining <= 0:
                return out
            if not self._partitions:
                time.sleep(remaining)  # owns nothing now: wait as a read would have
                return []
            if self.fence is not None:  # a script cannot block: poll
                time.sleep(min(remaining, _POLL))
                continue
            self._read(1, max(1, int(remaining * 1000)), everything=True)

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now >= self._next_refresh:
            self._refresh()
            self._next_refresh = now + self._queue.claim_after / 3
        if now >= self._next_scan:
            self._reclaim.update(self._partitions)
            self._next_scan = now + self._queue.claim_after / 4

    def _claim(self, partition: int, count: int) -> None:
        """XAUTOCLAIM what lies idle in ``partition`` for longer than ``claim_after``."""
        stream = self._queue.stream(partition)
        min_idle = int(self._queue.claim_after * 1000)
        start = self._cursor.pop(partition, "0-0")
        cursor, claimed = self._commands.xautoclaim(stream, min_idle, start, count)
        if cursor == "0-0":
            self._reclaim.discard(partition)
        else:
            self._cursor[partition] = cursor
        held = self._held.setdefault(partition, set())
        # Skip deleted entries, and this consumer's own (a late refresh let them idle):
        # it delivered those already.
        messages = [(sid.decode(), f) for sid, f in claimed if f and sid.decode() not in held]
        if not messages:
            return
        first, last = messages[0][0], messages[-1][0]
        attempts = self._commands.attempts(stream, first, last, len(held) + len(messages))
        for sid, fields in messages:
            held.add(sid)
            delivery = Delivery(
                task_from_fields(fields), f"{partition}:{sid}", attempts.get(sid, 2)
            )
            self._merge.add_redelivery(partition, sid, delivery)

    def _read(self, count: int, block: int | None, everything: bool = False) -> None:
        """Read new entries of the streams with nothing buffered (or of all, blocking)."""
        buffered = self._merge.buffered()
        chosen = [p for p in self._partitions if everything or p not in buffered]
        if not chosen:
            return
        streams = {self._queue.stream(p): ">" for p in chosen}
        replies = self._commands.xreadgroup(streams, count, block)
        got = {self._stream_partition(stream): messages for stream, messages in replies or []}
        for partition in chosen:
            messages = got.get(partition, [])
            held = self._held.setdefault(partition, set())
            read: list[tuple[str, Delivery]] = []
            for sid, fields in messages:
                key = sid.decode()
                held.add(key)
                read.append((key, Delivery(task_from_fields(fields), f"{partition}:{key}", 1)))
            # A blocking read answers for the streams that woke it only.
            self._merge.add_read(partition, read, block is None and len(messages) < count)
        if block is not None:
            self._merge.may_hold_more(self._partitions)

    def _stream_partition(self, stream: bytes | str) -> int:
        key = stream.decode() if isinstance(stream, bytes) else stream
        return int(key.rpartition(":")[2])

    def _refresh(self) -> None:
        """Reset the idle time of every held message, so that nobody reclaims it."""
        for partition, held in self._held.items():
            ids = sorted(held)
            for start in range(0, len(ids), _CHUNK):
                self._commands.xclaim(
                    self._queue.stream(partition), self.name, ids[start : start + _CHUNK], None
                )

    def _mine(self, receipts: Sequence[str]) -> dict[int, list[str]]:
        groups: dict[int, list[str]] = {}
        for partition, sid in _parse(receipts):
            if sid in self._held.get(partition, ()):
                groups.setdefault(partition, []).append(sid)
        return groups

    @override
    def ack(self, receipts: Sequence[str]) -> None:
        groups = self._mine(receipts)
        if not groups:
            return
        self._commands.ack({self._queue.stream(p): ids for p, ids in groups.items()})
        for partition, ids in groups.items():
            self._held[partition].difference_update(ids)

    @override
    def release(self, receipts: Sequence[str]) -> None:
        groups = self._mine(receipts)
        for partition, ids in groups.items():
            self._hand_back(partition, ids)
            self._held[partition].difference_update(ids)
        released = {f"{p}:{sid}" for p, ids in groups.items() for sid in ids}
        if released:
            self._merge.discard(released)

    @override
    def pending(self) -> int:
        return self._queue.pending()

    @override
    def close(self) -> None:
        """Hand back every unacknowledged message, then leave the group. Idempotent.

        When the fence's lease is lost, hands back nothing and stays in the group:
        the new owner took the messages over (deleting the consumer would drop
        whatever it still lists as pending)."""
        if self._closed:
            return
        try:
            self.release([f"{p}:{sid}" for p, ids in self._held.items() for sid in ids])
        except LeaseLostError:
            self._closed = True
            return
        self._closed = True
        self._commands.leave(self._queue.stream(p) for p in range(self._queue.partitions))
