"""Compaction: a large protosession's raw hits replaced by one compressed block.

The handler tracks the bytes each protosession holds in its ``Set``; past the
``compaction_threshold`` setting it swaps the members for a single block, so a
memory-bound store (Redis) holds busy protosessions compactly. Closing reads
blocks and raw hits alike through :func:`expand`. A block starts with
:data:`BLOCK`, which no encoded hit does (hits are CBOR arrays).
"""

from __future__ import annotations

from collections.abc import Iterable

import cbor2
import zstandard

__all__ = ["BLOCK", "compact", "expand"]

BLOCK = b"\x00d8a-block\x00"


def compact(members: Iterable[bytes]) -> bytes:
    """One block holding every hit of ``members`` (blocks among them are unpacked)."""
    hits = sorted(set(expand(members)))
    return BLOCK + zstandard.ZstdCompressor(level=3).compress(cbor2.dumps(hits))


def expand(members: Iterable[bytes]) -> list[bytes]:
    """The encoded hits of ``members``, blocks unpacked, duplicates removed."""
    hits: dict[bytes, None] = {}
    for member in members:
        if member.startswith(BLOCK):
            packed = zstandard.ZstdDecompressor().decompress(member[len(BLOCK) :])
            for data in cbor2.loads(packed):
                hits[data] = None
        else:
            hits[member] = None
    return list(hits)
