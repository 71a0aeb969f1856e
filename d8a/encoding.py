"""CBOR + zstandard framing of hit batches.

A queue message body is ``zstd(cbor([cbor(hit), ...]))``: each hit stays a
separate CBOR item so that the protosession state can store a hit's bytes as
they came, without encoding it again. Encoding is deterministic: the same hit
gives the same bytes, which makes re-adding a redelivered hit to a ``Set`` a
no-op.
"""

from __future__ import annotations

import threading

import cbor2
import zstandard

from d8a.hits import Hit

__all__ = ["decode_batch", "decode_hit", "encode_batch", "encode_hit"]

_local = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    comp = getattr(_local, "comp", None)
    if comp is None:
        comp = _local.comp = zstandard.ZstdCompressor(level=3)
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


def encode_batch(encoded_hits: list[bytes]) -> bytes:
    """Frame already-encoded hits into one compressed message body."""
    return _compressor().compress(cbor2.dumps(encoded_hits))


def decode_batch(body: bytes) -> list[bytes]:
    """Inverse of :func:`encode_batch`: the encoded hits of a message body."""
    items = cbor2.loads(_decompressor().decompress(body))
    if not isinstance(items, list) or not all(isinstance(i, bytes) for i in items):
        raise ValueError("a hit batch must be a CBOR array of byte strings")
    return items
