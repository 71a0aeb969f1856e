"""d8a builds its arrays in its own Arrow memory pool (d8a.layouts.memory_pool),
not pyarrow's default, unless ARROW_DEFAULT_MEMORY_POOL asks for a backend."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import pyarrow as pa
import pytest

import d8a
from d8a.layouts.memory_pool import arrow_pool
from d8a.testing import generate_traffic


def test_the_pool_is_jemalloc_or_the_system_allocator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    arrow_pool.cache_clear()
    try:
        assert arrow_pool() is arrow_pool()
        assert arrow_pool().backend_name in {"jemalloc", "system"}
    finally:
        arrow_pool.cache_clear()


def test_a_replay_allocates_its_tables_from_the_pool() -> None:
    gc.collect()  # garbage of earlier tests freed now, not during the replay
    before = arrow_pool().bytes_allocated()
    tables = d8a.replay(list(generate_traffic(visitors=40, seed=3, days=1)))
    assert tables["events"].num_rows > 50
    assert arrow_pool().bytes_allocated() - before >= tables["events"].get_total_buffer_size() // 2


CHILD = """
import pyarrow as pa
from d8a.layouts.memory_pool import arrow_pool
print(arrow_pool().backend_name, pa.default_memory_pool().backend_name)
"""


@pytest.mark.parametrize("backend", ["system", "mimalloc"])
def test_arrow_default_memory_pool_makes_d8a_use_the_default(backend: str) -> None:
    env = {**os.environ, "ARROW_DEFAULT_MEMORY_POOL": backend}
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == [backend, backend]


def test_without_jemalloc_the_system_allocator(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> pa.MemoryPool:
        raise NotImplementedError("built without jemalloc")

    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    monkeypatch.setattr(pa, "jemalloc_memory_pool", missing)
    arrow_pool.cache_clear()
    try:
        assert arrow_pool().backend_name == "system"
    finally:
        arrow_pool.cache_clear()
