"""``d8a worker`` as a real process: works the queue, stops cleanly on SIGTERM, loses nothing."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from d8a import ManualClock, Pipeline
from tests.conftest import T0, ga4


def start_worker(tmp: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "d8a",
            "worker",
            "--queue",
            f"sqlite:///{tmp / 'queue.db'}",
            "--warehouse",
            f"sqlite:///{tmp / 'events.db'}",
            "--poll",
            "0.05",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    assert "running" in process.stderr.readline()
    return process


def rows(tmp: Path) -> tuple[int, int]:
    try:
        with sqlite3.connect(tmp / "events.db") as db:
            found: tuple[int, int] = db.execute(
                "SELECT count(*), count(DISTINCT id) FROM events"
            ).fetchone()
            return found
    except sqlite3.OperationalError:  # not created yet
        return (0, 0)


def wait_for_rows(tmp: Path, expected: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while rows(tmp) != (expected, expected):
        assert time.monotonic() < deadline, f"rows {rows(tmp)}, expected {expected}"
        time.sleep(0.05)


def ingest(tmp: Path, ids: range) -> None:
    pipeline = (
        Pipeline.builder().queue(f"sqlite:///{tmp / 'queue.db'}").clock(ManualClock(T0)).build()
    )
    for i in ids:  # old receive times: the worker's idle pings close the sessions at once
        assert pipeline.ingest(ga4(cid=f"c{i % 5}", id=f"h{i}", at=T0 + i)).status == 204
    pipeline.close()


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert process.stderr is not None
    assert "stopped after" in process.stderr.read()


def test_worker_process_stops_on_sigterm_and_the_next_one_goes_on(tmp_path: Path) -> None:
    worker = start_worker(tmp_path)
    ingest(tmp_path, range(0, 40))
    wait_for_rows(tmp_path, 40)
    stop(worker)
    ingest(tmp_path, range(40, 80))  # queued while no worker runs
    assert rows(tmp_path) == (40, 40)
    worker = start_worker(tmp_path)
    wait_for_rows(tmp_path, 80)
    stop(worker)
    assert rows(tmp_path) == (80, 80)
