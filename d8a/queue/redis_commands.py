"""The Redis commands of a :class:`~d8a.queue.redis_consumer.RedisConsumer`.

The commands that take entries (``XCLAIM``, ``XAUTOCLAIM``, ``XREADGROUP``)
are plain redis-py calls without a fence. With one (a
:class:`~d8a._redis.Fence` on the partition lease of the scaled worker) each
runs in a script that first checks the lease and raises
:class:`~d8a._redis.LeaseLostError` once the lease is another worker's; the
replies come back in redis-py's shape either way. The others (``XPENDING``,
``XACK`` with ``XDEL``, ``XGROUP DELCONSUMER``) are never fenced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from d8a._redis import Fence, transient

__all__ = ["Entry", "GroupCommands"]

Entry = tuple[bytes, dict[bytes, bytes] | None]
"""A stream entry: its id and its fields (None for an entry deleted while pending)."""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entries(raw: Any) -> list[Entry]:
    """Stream entries from a raw (script) reply: ``[[id, [field, value, ...]], ...]``."""
    out: list[Entry] = []
    for entry in raw or ():
        if not entry:
            continue
        sid, fields = entry[0], entry[1] if len(entry) > 1 else None
        out.append((sid, None if not fields else dict(zip(fields[::2], fields[1::2], strict=True))))
    return out


class GroupCommands:
    """The commands of the consumer ``name`` in the consumer group ``group``; those
    that take entries are fenced by :attr:`fence` when it is set."""

    def __init__(self, client: Any, group: str, name: str) -> None:
        self.client = client
        self.group = group
        self.name = name
        self.fence: Fence | None = None
        """The lease that guards the commands, if any."""

    def xclaim(self, stream: str, consumer: str, ids: list[str], idle: int | None) -> None:
        """``XCLAIM ... JUSTID`` of ``ids`` to ``consumer``, their idle time set to
        ``idle`` ms (None: 0, as a refresh wants)."""
        if self.fence is None:
            with transient():
                self.client.xclaim(stream, self.group, consumer, 0, ids, idle=idle, justid=True)
            return
        extra = [] if idle is None else ["IDLE", idle]
        self.fence.call("XCLAIM", stream, self.group, consumer, 0, *ids, *extra, "JUSTID")

    def xautoclaim(
        self, stream: str, min_idle: int, start: str, count: int
    ) -> tuple[str, list[Entry]]:
        """``XAUTOCLAIM`` to this consumer: the cursor of the next scan, the entries claimed."""
        if self.fence is None:
            with transient():
                next_id, messages, *_ = self.client.xautoclaim(
                    stream, self.group, self.name, min_idle, start, count=count
                )
            return _text(next_id), list(messages)
        raw = self.fence.call(
            "XAUTOCLAIM", stream, self.group, self.name, min_idle, start, "COUNT", count
        )
        return _text(raw[0]), _entries(raw[1])

    def xreadgroup(self, streams: dict[str, str], count: int, block: int | None) -> Any:
        """``XREADGROUP`` of ``streams`` (key: last id); ``block`` is ignored when fenced,
        since a script cannot block."""
        if self.fence is None:
            with transient():
                return self.client.xreadgroup(
                    self.group, self.name, streams, count=count, block=block
                )
        raw = self.fence.call(
            "XREADGROUP", "GROUP", self.group, self.name, "COUNT", count,
            "STREAMS", *streams, *streams.values(),
        )  # fmt: skip
        return [(stream, _entries(messages)) for stream, messages in raw or ()]

    def pending_ids(self, stream: str, only_others: bool) -> list[str]:
        """The ids of every pending entry of ``stream`` (with ``only_others``, of the
        entries other consumers hold)."""
        with transient():
            entries = self.client.xpending_range(stream, self.group, "-", "+", 10**9)
        return [
            e["message_id"].decode()
            for e in entries
            if not (only_others and e["consumer"].decode() == self.name)
        ]

    def attempts(self, stream: str, first: str, last: str, count: int) -> dict[str, int]:
        """Entry id -> delivery count of the (at most ``count``) entries from ``first``
        to ``last`` that this consumer holds."""
        with transient():
            pending = self.client.xpending_range(
                stream, self.group, first, last, count, consumername=self.name
            )
        return {e["message_id"].decode(): e["times_delivered"] for e in pending}

    def ack(self, ids: Mapping[str, Sequence[str]]) -> None:
        """``XACK`` and ``XDEL`` the ids of each stream, all in one transaction."""
        with transient(), self.client.pipeline(transaction=True) as pipe:
            for stream, entry_ids in ids.items():
                pipe.xack(stream, self.group, *entry_ids)
                pipe.xdel(stream, *entry_ids)
            pipe.execute()

    def leave(self, streams: Iterable[str]) -> None:
        """Delete this consumer from the group of each of ``streams``."""
        with transient():
            for stream in streams:
                self.client.xgroup_delconsumer(stream, self.group, self.name)
