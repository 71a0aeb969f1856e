"""Grouping hits into protosessions in KV/Set state, closing idle ones.

State layout (all keys strings, values bytes):

* KV ``open/<len>:<property>\\x1f<client>`` -> id of the client's open protosession;
* KV ``last/<protosession>`` -> time of its newest hit (8-byte float);
* Set ``hits/<protosession>`` -> the encoded hits (or one compacted block; with
  an in-memory queue and state, :class:`~d8a.encoding.LocalHits` tokens);
* KV ``claim/<stamp>`` -> the open protosession that claimed an identity stamp;
* Set ``claims/<protosession>`` -> the stamps it claimed, released when it closes.

Every hit first advances the wheel clock to its own time, so closing does not
depend on how hits were batched: an idle protosession closes before a later hit
of the same client can join it, and that hit starts a new protosession (never
dropped). Closed protosessions wait in :attr:`closing` until :meth:`drain`
hands them to the closer; their state is deleted only after the closer
returned, so a crash in between closes them again at the next start.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from d8a.encoding import DecodedHits, HitRef, decode_hit
from d8a.hits import Hit
from d8a.protosessions.closer import Closer
from d8a.protosessions.compaction import compact, expand
from d8a.protosessions.wheel import TimingWheel
from d8a.storage.base import KV, Set

__all__ = ["ProtosessionHandler"]

log = logging.getLogger(__name__)

_FLOAT = struct.Struct("<d")


@dataclass(slots=True)
class _Closing:
    protosession: str
    tokens: list[object] = field(default_factory=list)


class ProtosessionHandler:
    """Adds hits to protosessions and closes them after ``timeout`` seconds idle.

    ``on_written`` is called with the tokens (for example queue receipts) of the
    hits whose protosessions were written, once per hit. Not thread-safe: one
    handler belongs to one worker.
    """

    def __init__(
        self,
        kv: KV,
        hits: Set,
        closer: Closer,
        timeout: float,
        on_written: Callable[[list[object]], None] = lambda tokens: None,
        decoded: DecodedHits | None = None,
        *,
        compaction_threshold: int | None = None,
        eviction_strategy: str = "rewrite_in_place",
    ) -> None:
        self._decode = decode_hit if decoded is None else decoded.decode
        self._release = None if decoded is None else decoded.release
        self._kv = kv
        self._set = hits
        self._closer = closer
        self._timeout = timeout
        self._on_written = on_written
        self._wheel = TimingWheel()
        self._tokens: dict[str, list[object]] = {}
        self._client_keys: dict[str, list[str]] = {}
        """KV keys of the open pointers to each open protosession."""
        self._sizes: dict[str, int] = {}
        """Bytes added to each open protosession since it was last compacted."""
        self._compact_at = compaction_threshold
        self._evict_whole = eviction_strategy == "evict_whole_protosession"
        self.closing: list[_Closing] = []
        self._recover()

    @property
    def clock(self) -> float:
        """The wheel's clock: the newest hit or ping time seen."""
        return self._wheel.now

    @property
    def open_count(self) -> int:
        """Protosessions currently open."""
        return len(self._wheel)

    @property
    def oldest_deadline(self) -> float | None:
        """The closing deadline that comes first, or None; read by the metrics from
        another thread, so it may be a moment stale (None while the wheel changes)."""
        try:
            keys = self._wheel.keys()
        except RuntimeError:  # the worker thread changed the wheel while it was sorted
            return None
        return self._wheel.deadline(keys[0]) if keys else None

    def _recover(self) -> None:
        """Rebuild the wheel from durable state; stale protosessions close first."""
        open_ids = {value.decode(): key for key, value in self._kv.scan("open/")}
        # (a client moved by evict_whole_protosession shares its target's pointer;
        # the last one scanned wins here, the others are cleaned when it closes)
        for key, value in self._kv.scan("last/"):
            protosession = key[5:]
            (last,) = _FLOAT.unpack(value)
            if protosession in open_ids:
                self._wheel.schedule(protosession, last + self._timeout)
                self._client_keys.setdefault(protosession, []).append(open_ids[protosession])
            else:
                self.closing.append(_Closing(protosession))

    def add(self, hit: HitRef, token: object = None) -> None:
        """Add one hit after advancing the clock to its time."""
        when = hit.received_at
        if when > self._wheel.now:
            self._expire(self._wheel.advance(when))
        client_key = _client_key(hit.property_id, hit.client_id)
        current = self._kv.get(client_key)
        protosession = None if current is None else current.decode()
        if hit.stamps:
            protosession = self._join(hit, client_key, protosession)
        if protosession is None:
            protosession = f"{client_key[5:]}\x1f{len(hit.id)}:{hit.id}"
            self._kv.set(client_key, protosession.encode())
            self._client_keys[protosession] = [client_key]
            last = when
        else:
            previous = self._wheel.deadline(protosession)
            if previous is None:  # a pointer whose `last/` a crash did not write (see
                self._adopt(protosession, client_key)  # _recover): index it, or it outlives
            last = when if previous is None else max(when, previous - self._timeout)
        if hit.stamps:
            self._claim(hit.stamps, protosession)
        key = f"hits/{protosession}"
        self._set.add(key, hit.data)
        self._kv.set(f"last/{protosession}", _FLOAT.pack(last))
        self._wheel.schedule(protosession, last + self._timeout)
        if token is not None:
            self._tokens.setdefault(protosession, []).append(token)
        if self._compact_at:
            size = self._sizes.get(protosession, 0) + len(hit.data)
            if size > self._compact_at:
                block = compact(self._set.members(key))
                self._set.replace(key, [block])
                size = len(block)
            self._sizes[protosession] = size

    def _adopt(self, protosession: str, client_key: str) -> None:
        """Index the pointer ``client_key`` of ``protosession``, which the wheel does not
        know: a crash fell between writing the pointer of a new protosession and its
        ``last/``, so :meth:`_recover` skipped it. Unindexed, the pointer would survive
        the protosession's closing and the client's next hits, however much later,
        would join the closed protosession (a session merged across a gap)."""
        keys = self._client_keys.setdefault(protosession, [])
        if client_key not in keys:
            keys.append(client_key)

    def _join(self, hit: HitRef, client_key: str, own: str | None) -> str | None:
        """The open protosession another client claimed one of the hit's stamps for,
        else ``own``. With ``evict_whole_protosession`` the client's own open
        protosession moves into it too."""
        for stamp in hit.stamps:
            claimed = self._kv.get(f"claim/{stamp}")
            if claimed is None:
                continue
            owner = claimed.decode()
            if owner == own or owner not in self._wheel:
                continue
            if self._evict_whole and own is not None:
                self._move(own, owner)
                self._kv.set(client_key, owner.encode())
                self._client_keys.setdefault(owner, []).append(client_key)
            return owner
        return own

    def _claim(self, stamps: tuple[str, ...], protosession: str) -> None:
        for stamp in stamps:
            claim = f"claim/{stamp}"
            claimed = self._kv.get(claim)
            if claimed is None or claimed.decode() not in self._wheel:
                self._kv.set(claim, protosession.encode())
                self._set.add(f"claims/{protosession}", stamp.encode())

    def _move(self, source: str, target: str) -> None:
        """Move every hit, claim and token of open protosession ``source`` into ``target``."""
        self._set.add_many((f"hits/{target}", data) for data in self._set.members(f"hits/{source}"))
        for stamp in self._set.members(f"claims/{source}"):
            self._kv.set(f"claim/{stamp.decode()}", target.encode())
            self._set.add(f"claims/{target}", stamp)
        deadline = self._wheel.deadline(source) or 0.0
        if deadline > (self._wheel.deadline(target) or 0.0):
            self._wheel.schedule(target, deadline)
            self._kv.set(f"last/{target}", _FLOAT.pack(deadline - self._timeout))
        self._tokens.setdefault(target, []).extend(self._tokens.pop(source, []))
        for key in self._client_keys.pop(source, []):
            self._kv.delete(key)
        self._sizes.pop(source, None)
        self._wheel.cancel(source)
        self._set.drop(f"hits/{source}")
        self._set.drop(f"claims/{source}")
        self._kv.delete(f"last/{source}")

    def tick(self, now: float) -> None:
        """Advance the clock to ``now`` (a ping) and queue what became idle."""
        self._expire(self._wheel.advance(now))

    def close_all(self) -> None:
        """Queue every open protosession for closing, whatever its age."""
        remaining = self._wheel.keys()
        for protosession in remaining:
            self._wheel.cancel(protosession)
        self._expire(remaining)

    def _expire(self, protosessions: Sequence[str]) -> None:
        for protosession in protosessions:
            for client_key in self._client_keys.pop(protosession, ()):
                if self._kv.get(client_key) == protosession.encode():
                    self._kv.delete(client_key)
            self._sizes.pop(protosession, None)
            self.closing.append(_Closing(protosession, self._tokens.pop(protosession, [])))

    def drain(self, chunk: int = 200) -> int:
        """Close everything queued for closing, ``chunk`` protosessions per closer
        call (one warehouse write each, memory bounded); return how many."""
        self._commit()  # open/ pointers removed before anything is written
        closed = 0
        while self.closing:
            batch, self.closing = self.closing[:chunk], self.closing[chunk:]
            try:
                members = [self._members(item.protosession) for item in batch]
                loaded = [self._decoded(data) for data in members]
                self._closer.close([hits for hits in loaded if hits])
            except BaseException:
                self.closing = batch + self.closing  # retried by the next drain
                raise
            self._forget(batch)
            if self._release is not None:
                self._release([data for datas in members for data in datas])
            closed += len(batch)
        return closed

    def _forget(self, batch: list[_Closing]) -> None:
        """Delete the state of written protosessions and report their tokens."""
        for item in batch:
            protosession = item.protosession
            for stamp in self._set.members(f"claims/{protosession}"):
                claim = f"claim/{stamp.decode()}"
                if self._kv.get(claim) == protosession.encode():
                    self._kv.delete(claim)
            self._set.drop(f"claims/{protosession}")
            self._set.drop(f"hits/{protosession}")
            self._kv.delete(f"last/{protosession}")
        self._commit()
        tokens = [token for item in batch for token in item.tokens]
        if tokens:
            self._on_written(tokens)

    def _members(self, protosession: str) -> list[bytes]:
        return expand(self._set.members(f"hits/{protosession}"))

    def _decoded(self, members: list[bytes]) -> list[Hit]:
        """The hits of ``members`` in event order. A hit token already released (its
        hit was written, or kept out by a filter, before a redelivery re-added it)
        is skipped."""
        decode = self._decode
        hits = []
        for data in members:
            try:
                hits.append(decode(data))
            except LookupError:
                log.warning("skipped a redelivered hit already closed: %r", data)
        hits.sort(key=_sort_key)
        return hits

    def _commit(self) -> None:
        self._kv.commit()
        self._set.commit()


def _client_key(property_id: str, client_id: str) -> str:
    """KV key of a client's open protosession; length-prefixed, so ids may hold any character."""
    return f"open/{len(property_id)}:{property_id}\x1f{client_id}"


def _sort_key(hit: Hit) -> tuple[float, int, str]:
    return (hit.received_at, hit.seq, hit.id)
