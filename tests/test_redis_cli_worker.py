"""``d8a worker`` on Redis: several processes share the partitions by lease; writers.

``--queue redis://... --state redis://... --partitions N`` runs a scaled worker;
``D8A_CLOSER=async`` makes the workers publish closed protosessions and
``D8A_ROLE=writer`` (``--role writer``) runs a process that writes them.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pytest
import redis

import d8a
from d8a.pipeline import Pipeline
from d8a.testing import generate_traffic

PARTITIONS = 4
REQUESTS = list(generate_traffic(visitors=30, seed=11))


class Spawn(Protocol):
    def __call__(
        self, url: str, warehouse: Path, *extra: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[str]: ...


@pytest.fixture
def d8a_worker(children: list[subprocess.Popen[Any]]) -> Spawn:
    """Starts ``d8a worker`` processes, killed at the end if the test left them running."""

    def spawn(
        url: str, warehouse: Path, *extra: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[str]:
        children.append(start_worker(url, warehouse, *extra, env=env))
        return children[-1]

    return spawn


def start_worker(
    url: str, warehouse: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [
            sys.executable, "-m", "d8a", "worker",
            "--queue", url, "--state", url, "--partitions", str(PARTITIONS),
            "--warehouse", f"sqlite:///{warehouse}", "--poll", "0.05", *extra,
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    return process


def started(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    line = process.stderr.readline()
    assert "running" in line, line
    return line


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert process.stderr is not None
    return process.stderr.read()


def rows(path: Path) -> dict[str, tuple[Any, ...]]:
    try:
        with sqlite3.connect(path) as conn:
            cursor = conn.execute('SELECT * FROM "events"')
            names = [d[0] for d in cursor.description]
            found = cursor.fetchall()
    except sqlite3.OperationalError:  # not created yet
        return {}
    by_id = {row[names.index("id")]: row for row in found}
    assert len(by_id) == len(found), "duplicate rows"
    return by_id


def wait_until(condition: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def ingest(url: str) -> None:
    """All traffic before the workers start: a partition then idles (and its pings
    close what is open) only once its stream is worked off, as a replay ends."""
    with Pipeline.builder().queue(url).partitions(PARTITIONS).build() as pipeline:
        for request in REQUESTS:
            assert pipeline.ingest(request).status == 204


def owners(url: str) -> set[bytes]:
    with redis.Redis.from_url(url) as client:
        return {client.get(f"d8a:queue:hits:lease:{p}") for p in range(PARTITIONS)} - {None}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, ...]]:
    path = tmp_path_factory.mktemp("reference") / "events.db"
    d8a.replay(REQUESTS, warehouse=f"sqlite:///{path}")
    return rows(path)


def test_two_worker_processes_share_the_partitions(
    redis_url: str, tmp_path: Path, reference: dict[str, tuple[Any, ...]], d8a_worker: Spawn
) -> None:
    ingest(redis_url)
    warehouse = tmp_path / "events.db"
    workers = [d8a_worker(redis_url, warehouse) for _ in range(2)]
    assert all("ScaledWorker" in started(worker) for worker in workers)
    wait_until(lambda: len(owners(redis_url)) == 2)  # the leases are shared
    wait_until(lambda: len(rows(warehouse)) == len(reference))
    for worker in workers:
        assert "stopped after" in stop(worker)
    assert owners(redis_url) == set()  # both left at once, handing their partitions back
    assert rows(warehouse) == reference


def test_async_closer_with_a_writer_process(
    redis_url: str, tmp_path: Path, reference: dict[str, tuple[Any, ...]], d8a_worker: Spawn
) -> None:
    ingest(redis_url)
    warehouse = tmp_path / "events.db"
    workers = [d8a_worker(redis_url, warehouse, env={"D8A_CLOSER": "async"}) for _ in range(2)]
    writer = d8a_worker(redis_url, warehouse, env={"D8A_CLOSER": "async", "D8A_ROLE": "writer"})
    assert "writer (WriterLoop)" in started(writer)
    for worker in workers:
        started(worker)
    wait_until(lambda: len(rows(warehouse)) == len(reference))
    for process in [*workers, writer]:
        stop(process)
    assert rows(warehouse) == reference
    with redis.Redis.from_url(redis_url) as client:
        assert client.xlen("d8a:queue:closed:0") == 0  # every task written and acknowledged


@pytest.mark.parametrize(
    ("extra", "env", "message"),
    [
        (["--state", "sqlite:///state.db"], {}, "need Redis state too"),
        ([], {"D8A_ROLE": "reader"}, "role must be one of sessions, writer"),
        ([], {"D8A_ROLE": "writer"}, "needs the async closer"),
        (["--role", "writer"], {}, "needs the async closer"),
        ([], {"D8A_CLOSER": "later"}, "closer must be 'direct' or 'async'"),
    ],
)
def test_bad_worker_options_are_refused(
    redis_url: str,
    tmp_path: Path,
    extra: list[str],
    env: dict[str, str],
    message: str,
    d8a_worker: Spawn,
) -> None:
    process = d8a_worker(redis_url, tmp_path / "events.db", *extra, env=env)
    assert process.wait(timeout=60) == 2
    assert process.stderr is not None
    assert message in process.stderr.read()
