"""A worker of several on one partitioned Redis queue: it runs the partitions it leases.

Each leased partition gets its own worker loop: a consumer of that partition's
stream only, and a protosession handler over the partition's own namespace of
the Redis state (``<state namespace>:p<n>``), with its own event-time clock.
So when a partition changes hands its open protosessions go with it: the new
owner's handler recovers them from Redis, then takes over the unacknowledged
messages of the old owner (the lease says it is gone) and skips the hits the
warehouse already has. Nothing is lost and nothing written twice.

A partition is stepped only while its lease is surely held. A keep-alive
thread renews the leases every ``lease_ttl / 3``, however long a step takes,
so a lease expires only when its worker died or could not renew it for
``lease_ttl`` seconds. The latter happens on a loaded machine (renewals were
measured 1.4 s late at a load average of 13 on 2 cores): a step already under
way could then go on while the next owner took the partition over. So every
command that changes the partition's state or takes its messages is *fenced*
by the lease (:class:`~d8a._redis.Fence`, a check in the same Lua script):
the late step fails with :class:`~d8a._redis.LeaseLostError` at its first
such command and the worker drops the partition. Whatever it did before the
lease expired happened before the takeover, as if it had crashed then; what
it writes to the warehouse after that (a protosession whose closing was
already recorded) is what the next owner writes too, and writes are
idempotent by hit id.

Without the fence the next owner could rebuild its timing wheel from the
state while the late step still added to it: a protosession the late step
opened after that was unknown to the new owner's wheel, never expired, and
took the visitor's next hits however long after (a session merged across a
gap), and the messages the late step still read came back to the new owner
after newer ones (out of event-time order).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from d8a._redis import LeaseLostError
from d8a.errors import TransientError
from d8a.queue.redis import RedisQueue
from d8a.queue.redis_consumer import RedisConsumer
from d8a.runner import BackgroundLoop, WorkerLoop
from d8a.scaleout.leases import PartitionLeases
from d8a.storage.redis import RedisKV, RedisSet

if TYPE_CHECKING:
    from d8a.pipeline import Pipeline

__all__ = ["ScaledWorker"]

log = logging.getLogger(__name__)


class ScaledWorker(BackgroundLoop):
    """Leases a fair share of ``queue``'s partitions and runs a worker loop for each.

    ``pipeline`` gives the columns, layout, warehouse and clock (its own queue
    and state are not used); ``state`` is the namespace prefix of protosession
    state on ``store`` (a URL or redis-py client; default: ``queue``'s server).
    Not thread-safe; :meth:`start` runs it in a thread.
    """

    thread_name = "d8a-scaled-worker"

    def __init__(
        self,
        pipeline: Pipeline,
        queue: RedisQueue,
        *,
        state: str = "d8a:state",
        lease_ttl: float = 30.0,
        pings: bool = True,
        worker_id: str | None = None,
        store: Any = None,
    ) -> None:
        from d8a._redis import connect
        from d8a.wiring import build_worker

        self._build = build_worker
        self._pipeline = pipeline
        self._queue = queue
        self._state = state
        self._store, self._owns_store = connect(queue.client if store is None else store)
        self._pings = pings
        self.leases = PartitionLeases(
            queue.client,
            queue.partitions,
            name=queue.name,
            prefix=queue.prefix,
            ttl=lease_ttl,
            worker_id=worker_id,
        )
        self._loops: dict[int, tuple[WorkerLoop, RedisKV, RedisSet]] = {}
        self._next_rebalance = 0.0
        super().__init__()
        self._keeper: threading.Thread | None = None
        pipeline.migrate()

    @property
    def partitions(self) -> list[int]:
        """The partitions this worker runs now."""
        return sorted(self._loops)

    def rebalance(self) -> None:
        """Renew leases, hand back surplus partitions, open the newly leased ones."""
        if self._keeper is None:
            self._keeper = threading.Thread(
                target=self._keep_alive, name="d8a-lease-keeper", daemon=True
            )
            self._keeper.start()
        self.leases.rebalance(before_giving_up=self._drop)
        for partition in self.leases.owned():
            if partition not in self._loops:
                try:
                    self._open(partition)
                except LeaseLostError as exc:  # expired again before it was opened
                    log.warning("worker %s could not open partition %d: %s",
                                self.leases.worker_id, partition, exc)  # fmt: skip
        self._next_rebalance = time.monotonic() + self.leases.ttl / 3

    def _keep_alive(self) -> None:
        """Renew the leases every ``ttl / 3`` while the loop steps, however long a step."""
        while not self._stop.wait(self.leases.ttl / 3):
            try:
                self.leases.renew_all()
            except TransientError as exc:
                log.warning("cannot renew leases: %s", exc)

    def _open(self, partition: int) -> None:
        consumer = RedisConsumer(self._queue, [])
        consumer.fence = self.leases.fence(partition)
        try:
            consumer.assign([partition], take_over=True)
        except LeaseLostError:
            consumer.close()
            raise
        namespace = f"{self._state}:p{partition}"
        fence = self.leases.fence(partition, self._store)
        kv = RedisKV(self._store, namespace, fence=fence)
        hits = RedisSet(self._store, namespace, fence=fence)
        loop, _ = self._build(self._pipeline, consumer, kv, hits, self._pings)
        self._loops[partition] = (loop, kv, hits)
        log.info("worker %s took partition %d", self.leases.worker_id, partition)

    def _drop(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            entry = self._loops.pop(partition, None)
            if entry is None:
                continue
            loop, kv, hits = entry
            loop.close()  # hands back the unacknowledged messages
            kv.close()
            hits.close()
            log.info("worker %s gave up partition %d", self.leases.worker_id, partition)

    @override
    def step(self, max_tasks: int = 100, timeout: float = 0.0) -> int:
        """One round over the owned partitions; returns the deliveries handled.

        When nothing came, waits up to ``timeout`` seconds (in short sleeps)."""
        if time.monotonic() >= self._next_rebalance:
            self.rebalance()
        handled = 0
        for partition in list(self._loops):
            if not self.leases.holds(partition):
                self._drop([partition])  # the lease may be another's by now
                continue
            try:
                handled += self.step_partition(partition, self._loops[partition][0], max_tasks)
            except LeaseLostError as exc:  # renewed too late: another worker has it now
                log.warning(
                    "worker %s lost partition %d: %s", self.leases.worker_id, partition, exc
                )
                self._drop([partition])
        if not handled and timeout > 0:
            self._stop.wait(min(timeout, self.leases.ttl / 6))
        return handled

    def step_partition(self, partition: int, loop: WorkerLoop, max_tasks: int) -> int:
        """Step the loop of one partition; the place to observe a worker's work."""
        return loop.step(max_tasks, 0.0)

    def flush(self) -> None:
        """Consume what is queued in the owned partitions, then close every open
        protosession of theirs (as at the end of a replay)."""
        for loop, _, _ in self._loops.values():
            loop.flush()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stop the loop and the lease renewals, and wait for them. Leases and open
        protosessions are kept: the leases expire after ``lease_ttl`` (as when the
        process dies), then other workers take the partitions over."""
        super().stop(timeout)
        if self._keeper is not None:
            self._keeper.join(timeout)
            self._keeper = None

    def close(self) -> None:
        """Stop, hand back every partition and leave, so the others take over at once.
        Open protosessions stay in Redis for the next owner."""
        self.stop()
        self._drop(list(self._loops))
        self.leases.leave()
        self.leases.close()
        if self._owns_store:
            self._store.close()
            self._owns_store = False

    def __enter__(self) -> ScaledWorker:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
