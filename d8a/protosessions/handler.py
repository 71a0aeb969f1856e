"""Grouping hits into protosessions in KV/Set state, closing idle ones.

State layout (all keys strings, values bytes):

* KV ``open/<len>:<property>\\x1f<client>`` -> id of the client's open protosession;
* KV ``last/<protosession>`` -> time of its newest hit (8-byte float);
* Set ``hits/<protosession>`` -> the encoded hits.

Every hit first advances the wheel clock to its own time, so closing does not
depend on how hits were batched: an idle protosession closes before a later hit
of the same client can join it, and that hit starts a new protosession (never
dropped). Closed protosessions wait in :attr:`closing` until :meth:`drain`
hands them to the closer; their state is deleted only after the closer
returned, so a crash in between closes them again at the next start.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from d8a.encoding import DecodedHits, HitRef, decode_hit
from d8a.hits import Hit
from d8a.protosessions.closer import Closer
from d8a.protosessions.wheel import TimingWheel
from d8a.storage.base import KV, Set

__all__ = ["ProtosessionHandler"]

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
    ) -> None:
        self._decode = decode_hit if decoded is None else decoded.decode
        self._kv = kv
        self._set = hits
        self._closer = closer
        self._timeout = timeout
        self._on_written = on_written
        self._wheel = TimingWheel()
        self._tokens: dict[str, list[object]] = {}
        self._client_key: dict[str, str] = {}
        """KV key of the open pointer of each open protosession."""
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

    def _recover(self) -> None:
        """Rebuild the wheel from durable state; stale protosessions close first."""
        open_ids = {value.decode(): key for key, value in self._kv.scan("open/")}
        for key, value in self._kv.scan("last/"):
            protosession = key[5:]
            (last,) = _FLOAT.unpack(value)
            if protosession in open_ids:
                self._wheel.schedule(protosession, last + self._timeout)
                self._client_key[protosession] = open_ids[protosession]
            else:
                self.closing.append(_Closing(protosession))

    def add(self, hit: HitRef, token: object = None) -> None:
        """Add one hit after advancing the clock to its time."""
        when = hit.received_at
        if when > self._wheel.now:
            self._expire(self._wheel.advance(when))
        client_key = _client_key(hit.property_id, hit.client_id)
        current = self._kv.get(client_key)
        if current is None:
            protosession = f"{client_key[5:]}\x1f{len(hit.id)}:{hit.id}"
            self._kv.set(client_key, protosession.encode())
            self._client_key[protosession] = client_key
            last = when
        else:
            protosession = current.decode()
            previous = self._wheel.deadline(protosession)
            last = when if previous is None else max(when, previous - self._timeout)
        self._set.add(f"hits/{protosession}", hit.data)
        self._kv.set(f"last/{protosession}", _FLOAT.pack(last))
        self._wheel.schedule(protosession, last + self._timeout)
        if token is not None:
            self._tokens.setdefault(protosession, []).append(token)

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
            client_key = self._client_key.pop(protosession, None)
            if client_key is not None and self._kv.get(client_key) == protosession.encode():
                self._kv.delete(client_key)
            self.closing.append(_Closing(protosession, self._tokens.pop(protosession, [])))

    def drain(self) -> int:
        """Close everything queued for closing in one closer call; return how many."""
        if not self.closing:
            self._commit()
            return 0
        batch, self.closing = self.closing, []
        self._commit()  # open/ pointers removed before anything is written
        try:
            loaded = [self._load(item.protosession) for item in batch]
            self._closer.close([hits for hits in loaded if hits])
        except BaseException:
            self.closing = batch + self.closing  # retried by the next drain
            raise
        for item in batch:
            self._set.drop(f"hits/{item.protosession}")
            self._kv.delete(f"last/{item.protosession}")
        self._commit()
        tokens = [token for item in batch for token in item.tokens]
        if tokens:
            self._on_written(tokens)
        return len(batch)

    def _load(self, protosession: str) -> list[Hit]:
        decode = self._decode
        hits = [decode(data) for data in self._set.members(f"hits/{protosession}")]
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
