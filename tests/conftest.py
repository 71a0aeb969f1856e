"""Shared fixtures."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import settings
from typing_extensions import override

from d8a.clock import ManualClock
from d8a.errors import TransientError
from d8a.pipeline import Pipeline
from d8a.warehouse import MemoryDriver

# No per-example deadline: these machines are noisy, and a slow example that
# passes on the rerun makes Hypothesis fail the test as flaky.
settings.register_profile("d8a", deadline=None)
settings.load_profile("d8a")

T0 = 1_790_000_000.0  # 2026-09-21T...Z: a fixed event time for tests


def ip_of(cid: str) -> str:
    """A documentation-range IP per client id, so that test visitors never share a
    session stamp by accident (they do share headers)."""
    import hashlib

    digest = hashlib.blake2b(cid.encode(), digest_size=2).digest()
    return f"2001:db8::{digest.hex()}"


def ga4(
    cid: str = "1.1",
    en: str = "page_view",
    at: float = T0,
    dl: str = "https://shop.example/",
    id: str | None = None,
    body: str = "",
    **params: str,
) -> dict[str, Any]:
    """A GA4 request dict with the given params."""
    from urllib.parse import urlencode

    query = {"v": "2", "tid": "G-TEST", "cid": cid, "dl": dl}
    if en:
        query["en"] = en
    query.update(params)
    request: dict[str, Any] = {
        "method": "POST" if body else "GET",
        "path": "/g/collect",
        "query": urlencode(query),
        "headers": {"User-Agent": "test-agent", "Accept-Language": "en"},
        "body": body,
        "ip": ip_of(cid),
        "received_at": at,
    }
    if id is not None:
        request["id"] = id
    return request


@pytest.fixture
def memory_pipeline() -> Pipeline:
    """A pipeline on memory backends with a manual clock and no pings."""
    return Pipeline.builder().clock(ManualClock(T0)).pings(False).build()


pytest_plugins = ["conftest_redis", "conftest_bigquery"]  # Redis server, BigQuery emulator


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[Any]]]:
    """Child processes a test registers; those still running when it ends (it
    failed half-way) are killed, so that they do not disturb the next tests
    (a leftover Redis worker stays a member and keeps partitions)."""
    started: list[subprocess.Popen[Any]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
            child.wait(30)


class FlakyDriver(MemoryDriver):
    """A memory warehouse whose first write fails, as a dropped connection would."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    @override
    def write(self, table: str, data: pa.Table) -> None:
        if self.failures:
            self.failures -= 1
            raise TransientError("connection reset")
        super().write(table, data)
