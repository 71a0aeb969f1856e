"""Fewer passes of Python's cyclic garbage collector while d8a works through hits.

Closing sessions allocates millions of short-lived dicts and lists with hardly
a cycle among them. At Python's default thresholds, ``(700, 10, 10)``, the
collector runs every 700 net allocations and, every hundred runs, makes a full
pass over the whole long-lived heap: the host application's objects, and in a
benchmark or a notebook the recorded requests. Measured with ``gc.callbacks``
over 100,000 hits, the full passes took 18 % of a replay and about 20 µs a hit
of the embedded SQLite pipeline; at :data:`FEWER_GC_THRESHOLD` 3.6 % and about
6 µs. :func:`fewer_gc_passes` raises the thresholds for a block (each step of a
worker loop; ``replay`` raises them further, to
:data:`d8a.replay.REPLAY_GC_THRESHOLD`) and restores the caller's when the last
of overlapping blocks ends. The thresholds are the process's: other threads see
them too while a block runs; garbage in cycles is freed a little later, nothing
else changes.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["FEWER_GC_THRESHOLD", "fewer_gc_passes", "raised"]

FEWER_GC_THRESHOLD = (20_000, 10, 10)
"""The collector's thresholds inside :func:`fewer_gc_passes` (Python's default is
``(700, 10, 10)``)."""

_lock = threading.Lock()
_blocks = 0
_saved: tuple[int, ...] = ()


def raised(
    thresholds: tuple[int, ...], to: tuple[int, ...] = FEWER_GC_THRESHOLD
) -> tuple[int, ...]:
    """``thresholds`` raised to ``to``, never lowered; a first threshold of 0
    (collection off) stays 0."""
    if not thresholds or thresholds[0] == 0:
        return thresholds
    return tuple(max(old, new) for old, new in zip(thresholds, to, strict=False))


@contextmanager
def fewer_gc_passes(thresholds: tuple[int, ...] = FEWER_GC_THRESHOLD) -> Iterator[None]:
    """Raise the collector's thresholds to ``thresholds`` for the block (:func:`raised`:
    higher ones stay, a caller's or an overlapping block's), and restore the caller's
    when the last of concurrent blocks ends."""
    global _blocks, _saved
    with _lock:
        if _blocks == 0:
            _saved = gc.get_threshold()
        gc.set_threshold(*raised(gc.get_threshold(), thresholds))
        _blocks += 1
    try:
        yield
    finally:
        with _lock:
            _blocks -= 1
            if _blocks == 0:
                gc.set_threshold(*_saved)
