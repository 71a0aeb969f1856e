"""A d8a worker process for crash tests: it runs until it is killed.

Usage::

    python tests/crash_worker.py QUEUE_DB STATE_DB WAREHOUSE_DB [--state memory]
        [--max-tasks N] [--kill-before-write N | --kill-after-write N]

It builds the pipeline of :func:`build_pipeline` (SQLite queue and warehouse;
protosession state in SQLite at ``STATE_DB``, or in memory with ``--state
memory``), prints ``ready`` once the worker is made (state recovered, tables
migrated), then steps forever with a small ``max_tasks`` so that there are many
commit points to be killed between, and prints one line after each step that
handled deliveries. Every line is flushed, so a test can tell that it works.

``--kill-before-write N`` / ``--kill-after-write N`` make the worker SIGKILL
itself just before / just after its N-th warehouse write: a crash at an exact
point of closing (protosessions already taken out of the open state, rows not
written / rows written but state not yet cleared nor messages acknowledged).

``tests/test_at_least_once.py`` imports :func:`build_pipeline` to finish, in
process, what the killed workers left.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

import pyarrow as pa

from d8a.clock import ManualClock
from d8a.pipeline import Pipeline
from d8a.warehouse.sqlite import SQLiteDriver

SESSION_TIMEOUT = 60


class KillingDriver(SQLiteDriver):
    """A SQLite driver that SIGKILLs its own process around its ``kill_at``-th write."""

    def __init__(self, path: str, kill_at: int, after: bool) -> None:
        super().__init__(path)
        self.writes = 0
        self.kill_at = kill_at
        self.after = after

    def write(self, table: str, data: pa.Table) -> None:
        self.writes += 1
        if self.writes == self.kill_at and not self.after:
            self._die("before")
        super().write(table, data)
        if self.writes == self.kill_at and self.after:
            self._die("after")

    def _die(self, when: str) -> None:
        print(f"killed {when} write {self.writes}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


def build_pipeline(
    queue_db: str,
    state_db: str,
    warehouse_db: str,
    state: str,
    kill_at: int = 0,
    after: bool = False,
) -> Pipeline:
    """The pipeline every crash-test worker (and the final flush) runs."""
    warehouse = (
        KillingDriver(warehouse_db, kill_at, after) if kill_at else "sqlite:///" + warehouse_db
    )
    return (
        Pipeline.builder(session_timeout=SESSION_TIMEOUT)
        .queue("sqlite:///" + queue_db)
        .state("sqlite:///" + state_db if state == "sqlite" else "memory://")
        .warehouse(warehouse)
        .pings(False)
        .clock(ManualClock())
        .build()
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("queue_db")
    parser.add_argument("state_db")
    parser.add_argument("warehouse_db")
    parser.add_argument("--state", choices=("sqlite", "memory"), default="sqlite")
    parser.add_argument("--max-tasks", type=int, default=10)
    kill = parser.add_mutually_exclusive_group()
    kill.add_argument("--kill-before-write", type=int, default=0, metavar="N")
    kill.add_argument("--kill-after-write", type=int, default=0, metavar="N")
    args = parser.parse_args(argv)
    pipeline = build_pipeline(
        args.queue_db,
        args.state_db,
        args.warehouse_db,
        args.state,
        kill_at=args.kill_before_write or args.kill_after_write,
        after=bool(args.kill_after_write),
    )
    worker = pipeline.worker()
    print(f"ready open={worker.protosessions.open_count}", flush=True)
    steps = 0
    while True:
        handled = worker.step(max_tasks=args.max_tasks, timeout=0.05)
        if handled:
            steps += 1
            print(
                f"step {steps} deliveries={handled} open={worker.protosessions.open_count}",
                flush=True,
            )


if __name__ == "__main__":
    sys.exit(main())
