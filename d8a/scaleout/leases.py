"""Partition ownership: leases with expiry in Redis, shared fairly among live workers.

Keys (``<ns>`` is ``<prefix>:<queue name>``):

* ``<ns>:member:<worker>`` -> ``1`` with a TTL: the worker is alive;
* ``<ns>:lease:<p>`` -> the id of the worker that owns partition ``p``, with a TTL.

Every :meth:`PartitionLeases.rebalance` renews the worker's own keys, then
works out the fair share from the live members (partition ``p`` goes to the
``p mod n``-th of the ``n`` members, sorted by id), gives up the leases it
should not hold and takes free ones it should. A lease is taken with ``SET NX``
and renewed or given up by a script that checks the owner first, so at any
moment at most one worker holds a partition, and expiry is Redis's own TTL
(no wall clock is read here). A worker that stops renewing (it crashed) loses
its leases after ``ttl`` seconds and the others take them over.

A worker may treat a lease as its own until ``ttl`` seconds after it sent the
request that set or renewed it, by its monotonic clock (:meth:`owned`): the
server's expiry is later than that. It must finish any step on a partition
within that time, or stop processing it: that is what keeps two workers off
one partition. Every method may be retried after a ``TransientError``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from d8a._redis import Fence, connect, transient
from d8a.errors import ConfigurationError

__all__ = ["PartitionLeases", "Rebalance"]

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_GIVE_UP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class Rebalance:
    """What one :meth:`PartitionLeases.rebalance` changed."""

    gained: tuple[int, ...]
    """Partitions newly leased: their previous owner is gone or gave them up."""
    lost: tuple[int, ...]
    """Partitions whose lease could not be renewed (it expired: another may own them)."""


class PartitionLeases:
    """The leases of one worker on the ``partitions`` partitions of a queue.

    Thread-safe, so that a keep-alive thread may :meth:`renew_all` while the
    worker loop steps. ``client`` is a URL or a redis-py client. ``ttl`` is the
    lease time in seconds; renew more often than that (every ``ttl / 3`` is the intent).
    """

    def __init__(
        self,
        client: Any,
        partitions: int,
        *,
        name: str = "hits",
        prefix: str = "d8a:queue",
        ttl: float = 30.0,
        worker_id: str | None = None,
    ) -> None:
        if partitions < 1 or ttl <= 0:
            raise ConfigurationError("leases need at least one partition and a positive ttl")
        self._redis, self._owned_client = connect(client)
        self.partitions = partitions
        self.ttl = ttl
        self.worker_id = worker_id or uuid.uuid4().hex
        self._ns = f"{prefix}:{name}"
        self._renew = self._redis.register_script(_RENEW)
        self._give_up = self._redis.register_script(_GIVE_UP)
        self._lock = threading.RLock()
        self._until: dict[int, float] = {}
        """Owned partitions, and until when (monotonic) each lease is surely ours."""

    def _lease(self, partition: int) -> str:
        return f"{self._ns}:lease:{partition}"

    def fence(self, partition: int, client: Any = None) -> Fence:
        """A :class:`~d8a._redis.Fence` on the lease of ``partition`` (on ``client``,
        default: the leases' server): commands through it apply only while this
        worker holds the lease."""
        return Fence(
            self._redis if client is None else client, self._lease(partition), self.worker_id
        )

    @property
    def _ms(self) -> int:
        return max(1, int(self.ttl * 1000))

    def owned(self) -> list[int]:
        """The partitions whose lease is surely this worker's now."""
        now = time.monotonic()
        with self._lock:
            return sorted(p for p, until in self._until.items() if until > now)

    def holds(self, partition: int) -> bool:
        """True while the lease on ``partition`` is surely this worker's."""
        return self._until.get(partition, 0.0) > time.monotonic()

    def renew(self, partition: int) -> bool:
        """Renew the lease on ``partition`` for another ``ttl``; False (and forgotten)
        when it is not this worker's any more. Call it right before a step."""
        with self._lock:
            sent = time.monotonic()
            with transient():
                renewed = self._renew(
                    keys=[self._lease(partition)], args=[self.worker_id, self._ms]
                )
            if renewed:
                self._until[partition] = sent + self.ttl
            else:
                self._until.pop(partition, None)
            return bool(renewed)

    def renew_all(self) -> list[int]:
        """Renew membership and every held lease; return the partitions lost (forgotten)."""
        with self._lock:
            with transient():
                self._redis.set(f"{self._ns}:member:{self.worker_id}", b"1", px=self._ms)
            return [p for p in sorted(self._until) if not self.renew(p)]

    def members(self) -> list[str]:
        """Ids of the live workers, sorted."""
        pattern = f"{self._ns}:member:*"
        with transient():
            keys = list(self._redis.scan_iter(match=pattern, count=1000))
        start = len(pattern) - 1
        return sorted(key.decode()[start:] for key in keys)

    def fair_share(self, members: list[str]) -> set[int]:
        """The partitions this worker should own among ``members``."""
        if self.worker_id not in members:
            return set()
        index, count = members.index(self.worker_id), len(members)
        return {p for p in range(self.partitions) if p % count == index}

    def rebalance(self, before_giving_up: Any = None) -> Rebalance:
        """Renew, give up what is not this worker's share, take what is free of it.

        ``before_giving_up(partitions)`` is called with the partitions about to
        be given up (and those already lost), before their leases are deleted:
        the worker stops processing them there."""
        with self._lock:
            lost = self.renew_all()
            share = self.fair_share(self.members())
            surplus = [p for p in sorted(self._until) if p not in share]
            if before_giving_up is not None and (surplus or lost):
                before_giving_up(sorted([*surplus, *lost]))
            self._give_up_leases(surplus)
            gained = []
            for partition in sorted(share - self._until.keys()):
                sent = time.monotonic()
                with transient():
                    taken = self._redis.set(
                        self._lease(partition), self.worker_id.encode(), nx=True, px=self._ms
                    )
                if taken:
                    self._until[partition] = sent + self.ttl
                    gained.append(partition)
        return Rebalance(tuple(gained), tuple(lost))

    def _give_up_leases(self, partitions: Iterable[int]) -> None:
        with self._lock:
            for partition in partitions:
                self._until.pop(partition, None)
                with transient():
                    self._give_up(keys=[self._lease(partition)], args=[self.worker_id])

    def leave(self) -> None:
        """Give up every lease and leave the members, so others take over at once."""
        with self._lock:
            self._give_up_leases(list(self._until))
            with transient():
                self._redis.delete(f"{self._ns}:member:{self.worker_id}")

    def close(self) -> None:
        """Close the client if it was opened from a URL (leases are not given up)."""
        if self._owned_client:
            self._redis.close()
