"""The Arrow memory pool d8a builds its arrays in.

pyarrow's default pool is mimalloc in its Linux wheels. A replay keeps every
array it builds until it returns, so its pool keeps taking fresh memory from
the system; mimalloc spent about 5 µs a hit of system time on it (0.70 s of
CPU in the kernel for 100,000 hits, against 0.21 s with jemalloc's pool:
``benchmarks/bench_memory_pool.py``). So d8a passes its own pool to the Arrow
calls of its hot path (rows to arrays, session values, ``take``, replay's
ordering): jemalloc where pyarrow was built with it, else the system allocator.
The default pool, which everything else uses, is left alone; when
``ARROW_DEFAULT_MEMORY_POOL`` names a backend, d8a uses the default too.
"""

from __future__ import annotations

import os
from functools import cache

import pyarrow as pa

__all__ = ["arrow_pool"]


@cache
def arrow_pool() -> pa.MemoryPool:
    """The pool for d8a's arrays (see the module docstring); the same every call."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return pa.default_memory_pool()
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc
        return pa.system_memory_pool()
