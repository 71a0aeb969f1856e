"""Bounded caches of what repeats in traffic, safe against text that does not.

d8a remembers per process what repeats from hit to hit: decoded query values,
parsed query parts, page URLs, identity-stamp digests, referrer-list matches.
Their keys come from the network, so every such cache is bounded twice: in
entries (it is emptied when full) and in the length of a key it keeps
(:data:`LONGEST_KEY`). A longer key is computed every time and never kept, so a
flood of large unique values cannot make a cache hold more than its entries
times :data:`LONGEST_KEY` characters of keys.
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["LONGEST_KEY", "remember"]

K = TypeVar("K", str, tuple[str, ...])
V = TypeVar("V")

LONGEST_KEY = 1024
"""The longest text key (in characters) a cache keeps."""


def remember(cache: dict[K, V], key: K, value: V, limit: int) -> V:
    """Keep ``value`` under ``key`` in ``cache`` (emptied first when it holds
    ``limit`` entries), unless ``key`` is longer than :data:`LONGEST_KEY` (a tuple
    of strings: their lengths added); return ``value``."""
    if (len(key) if isinstance(key, str) else sum(map(len, key))) <= LONGEST_KEY:
        if len(cache) >= limit:
            cache.clear()
        cache[key] = value
    return value
