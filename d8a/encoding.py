"""CBOR + zstandard framing of hit batches.

A queue message body is ``zstd(cbor([[property, client, id, time, cbor(hit)], ...]))``:
each hit travels as a :class:`HitRef`, the few fields the protosession handler
needs plus the hit's own CBOR bytes. The handler stores those bytes as they
came and the hit is decoded once, when its protosession closes. Encoding is
deterministic: the same hit gives the same bytes, which makes re-adding a
redelivered hit to a ``Set`` a no-op.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any, NamedTuple

import cbor2
import zstandard
from typing_extensions import override

from d8a.hits import Hit

__all__ = [
    "BATCH_FORMAT",
    "LOCAL_BATCH",
    "DecodedHits",
    "HitRef",
    "LocalHits",
    "decode_batch",
    "decode_hit",
    "encode_batch",
    "encode_hit",
]


class HitRef(NamedTuple):
    """A hit as the queue carries it: routing fields and the encoded hit."""

    property_id: str
    client_id: str
    """The authoritative client id (the protosession key)."""
    id: str
    received_at: float
    data: bytes
    stamps: tuple[str, ...] = ()
    """Identity stamps the hit joins by (see :mod:`d8a.protosessions.identity`)."""

    @classmethod
    def of(cls, hit: Hit, decoded: DecodedHits | None = None) -> HitRef:
        """Encode ``hit`` (remembering it in ``decoded`` when given; a
        :class:`LocalHits` gives a token instead of encoding it)."""
        if decoded is None:
            data = encode_hit(hit)
        elif decoded.local:
            data = decoded.token(hit)
        else:
            data = encode_hit(hit)
            decoded.remember(data, hit)
        return cls(
            hit.property_id, hit.authoritative_client_id, hit.id, hit.received_at, data, hit.stamps
        )


BATCH_FORMAT = "d8a-hits/1"
"""The ``format`` header of hit-batch tasks; a consumer sets aside what it cannot read."""

_local = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    comp = getattr(_local, "comp", None)
    if comp is None:
        comp = _local.comp = zstandard.ZstdCompressor(level=1)
    return comp


def _decompressor() -> zstandard.ZstdDecompressor:
    dec = getattr(_local, "dec", None)
    if dec is None:
        dec = _local.dec = zstandard.ZstdDecompressor()
    return dec


def encode_hit(hit: Hit) -> bytes:
    """One hit as CBOR bytes."""
    return cbor2.dumps(hit.to_list())


def decode_hit(data: bytes) -> Hit:
    """Inverse of :func:`encode_hit`."""
    return Hit.from_list(cbor2.loads(data))


def encode_batch(refs: list[HitRef]) -> bytes:
    """Frame hits into one compressed message body."""
    return _compressor().compress(
        cbor2.dumps([list(ref) if ref.stamps else list(ref[:5]) for ref in refs])
    )


_new_tuple = tuple.__new__  # builds a HitRef without its Python-level __new__


def _ref(item: list[Any]) -> HitRef:
    if type(item) is list and len(item) == 5:  # no stamps: the common case
        return _new_tuple(HitRef, (*item, ()))
    property_id, client_id, hit_id, received_at, data, *rest = item
    stamps = tuple(rest[0]) if rest else ()
    return HitRef(property_id, client_id, hit_id, received_at, data, stamps)


def decode_batch(body: bytes) -> list[HitRef]:
    """Inverse of :func:`encode_batch`. Raises ValueError for a malformed body."""
    items = cbor2.loads(_decompressor().decompress(body))
    if not isinstance(items, list):
        raise ValueError("a hit batch must be a CBOR array")
    try:
        refs = [_ref(item) for item in items]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"malformed hit in batch: {exc}") from None
    if not all(isinstance(ref.data, bytes) for ref in refs):
        raise ValueError("a hit's data must be a CBOR byte string")
    return refs


class DecodedHits:
    """Hits this process encoded, kept so that its own worker need not decode them.

    When the receiver and the worker share a process (replay, a web app with a
    worker thread), the worker takes the hit object back instead of decoding its
    bytes: same bytes, same hit, since encoding is deterministic. Each entry is
    taken once; past ``limit`` entries the cache is emptied (a miss only costs a
    decode). Thread-safe: single dict operations only.
    """

    local = False
    """True for :class:`LocalHits`, whose refs carry tokens rather than CBOR."""

    def __init__(self, limit: int = 20_000) -> None:
        self._hits: dict[bytes, Hit] = {}
        self._limit = limit

    def remember(self, data: bytes, hit: Hit) -> None:
        """Keep ``hit`` under its encoded bytes."""
        if len(self._hits) >= self._limit:
            self._hits.clear()
        self._hits[data] = hit

    def decode(self, data: bytes) -> Hit:
        """The hit of ``data``: the remembered object if there is one, else decoded."""
        hit = self._hits.pop(data, None)
        if hit is not None:
            return hit
        if data.startswith(LOCAL):
            raise TypeError(
                "a hit token of an in-memory pipeline reached a worker that keeps its"
                " state elsewhere: share a MemoryQueue only with in-memory state"
            )
        return decode_hit(data)

    def token(self, hit: Hit) -> bytes:
        """Only :class:`LocalHits` hands out tokens."""
        raise TypeError(f"{type(self).__name__} encodes hits; it has no tokens")

    def release(self, data: list[bytes]) -> None:
        """The hits of ``data`` are written and forgotten (a no-op here)."""

    def batch(self, refs: list[HitRef]) -> bytes:
        """Only :class:`LocalHits` hands out batch tokens."""
        raise TypeError(f"{type(self).__name__} encodes hits; it has no tokens")


LOCAL = b"\x01d8a-local\x00"
"""The start of a :class:`LocalHits` token; no CBOR-encoded hit (an array) starts so."""

LOCAL_BATCH = b"\x01d8a-batch\x00"
"""The start of a :class:`LocalHits` batch token, a whole queue message body; no
zstandard frame starts so."""


class LocalHits(DecodedHits):
    """Hits that never leave the process: they travel as tokens, not as CBOR.

    When the queue is a :class:`~d8a.queue.memory.MemoryQueue` and the
    protosession state is in memory too (``d8a.replay``, an in-memory
    pipeline), nothing a hit's bytes are for (a durable queue message, durable
    state) exists; encoding each hit took about 8 % of a replay. A token is
    unique per hit, so re-adding a redelivered hit to a ``Set`` stays a no-op.
    The queue owns one instance, so every pipeline and worker on that queue
    resolves its tokens; a hit stays here until the worker that closed its
    protosession has written it and :meth:`release` s it. Data that is not a
    token (a hit encoded elsewhere) is decoded as usual. Thread-safe: single
    dict operations and an atomic counter only.
    """

    local = True

    def __init__(self) -> None:
        super().__init__()
        self._numbers = itertools.count()
        self._batches: dict[bytes, list[HitRef]] = {}

    @override
    def token(self, hit: Hit) -> bytes:
        """A new token for ``hit``, which is kept until released."""
        token = LOCAL + next(self._numbers).to_bytes(8, "big")
        self._hits[token] = hit
        return token

    @override
    def remember(self, data: bytes, hit: Hit) -> None:  # tokens only: nothing is encoded
        raise TypeError("LocalHits hands out tokens; it does not keep encoded hits")

    @override
    def decode(self, data: bytes) -> Hit:
        """The hit of a token (kept until released), or ``data`` decoded."""
        hit = self._hits.get(data)
        if hit is not None:
            return hit
        if data.startswith(LOCAL):
            raise LookupError(f"hit token {data!r} is unknown: already written and released")
        return decode_hit(data)

    @override
    def release(self, data: list[bytes]) -> None:
        """Forget the hits of ``data``: their protosessions are written."""
        pop = self._hits.pop
        for item in data:
            pop(item, None)

    @override
    def batch(self, refs: list[HitRef]) -> bytes:
        """A queue message body standing for ``refs``, kept until :meth:`release_batch`
        (the queue calls it when the message is acknowledged)."""
        token = LOCAL_BATCH + next(self._numbers).to_bytes(8, "big")
        self._batches[token] = refs
        return token

    def refs(self, body: bytes) -> list[HitRef]:
        """The hits of a batch token; ValueError for an unknown one."""
        refs = self._batches.get(body)
        if refs is None:
            raise ValueError(f"in-memory hit batch {body!r} is unknown (acknowledged already?)")
        return refs

    def release_batch(self, body: bytes) -> None:
        """Forget a batch token: its message is acknowledged."""
        self._batches.pop(body, None)

    def __len__(self) -> int:
        """Hits and batches kept."""
        return len(self._hits) + len(self._batches)
