"""At-least-once delivery end to end, exactly-once rows, with real SIGKILLs.

A worker subprocess (``tests/crash_worker.py``) consumes a SQLite queue that
requests are published to (each answered 204 only once its hits are in the
queue) and is SIGKILLed, then restarted, several times; a final in-process
flush finishes what is left. Then every accepted hit must be in the warehouse
exactly once, nothing else may be there, and the rows must be those of a run
that never crashed: so session ids (a session's first event id), hit numbers
and durations are consistent too, not only the set of ids.

* random kills while the test process ingests (SQLite and memory state);
* kills at exact points around the warehouse write, on a queue filled first;
* both sides as subprocesses: the ingesting "web" process is killed as well.
"""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import pytest

from d8a.pipeline import Pipeline
from d8a.testing import generate_traffic

HERE = Path(__file__).resolve().parent
WORKER_SCRIPT = HERE / "crash_worker.py"
TIMEOUT = 30.0
"""Seconds a subprocess may take to print what is waited for."""

Rows = dict[str, tuple[Any, ...]]


def _load_crash_worker() -> ModuleType:
    # By path, so that it works whatever pytest's import mode.
    spec = importlib.util.spec_from_file_location("d8a_crash_worker", WORKER_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


crash_worker = _load_crash_worker()


def build_pipeline(tmp: Path, state: str) -> Pipeline:
    """The pipeline the workers run, on the files in ``tmp``."""
    pipeline: Pipeline = crash_worker.build_pipeline(
        str(tmp / "queue.db"), str(tmp / "state.db"), str(tmp / "warehouse.db"), state
    )
    return pipeline


def hit_ids(request: Mapping[str, Any]) -> list[str]:
    """The hit ids a GA4 request with an ``id`` makes: the id, or ``id:n`` per body line."""
    body = request.get("body") or b""
    if isinstance(body, str):
        body = body.encode()
    lines = [line for line in body.split(b"\n") if line.strip()]
    rid = str(request["id"])
    return [rid] if len(lines) <= 1 else [f"{rid}:{n}" for n in range(len(lines))]


class Child:
    """A subprocess whose stdout lines a thread collects (so it never blocks on the pipe)."""

    def __init__(self, command: Sequence[str], log: IO[str]) -> None:
        self.proc = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=log, text=True)
        self.log = log
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def count(self, prefix: str) -> int:
        """Lines printed so far that start with ``prefix``."""
        with self._changed:
            return sum(1 for line in self.lines if line.startswith(prefix))

    def wait_for(self, prefix: str, n: int = 1, timeout: float = TIMEOUT) -> None:
        """Wait until ``n`` lines starting with ``prefix`` were printed (fail if it died)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while sum(1 for line in self.lines if line.startswith(prefix)) < n:
                left = deadline - time.monotonic()
                if self.proc.poll() is not None or left <= 0:
                    break
                self._changed.wait(min(left, 0.1))
            else:
                return
        self._fail(f"did not print {n} line(s) starting with {prefix!r}")

    def kill(self) -> None:
        """SIGKILL the process (which must still be running) and reap it."""
        if self.proc.poll() is not None:
            self._fail("exited before it was killed")
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._reap()

    def wait_killed(self, timeout: float = TIMEOUT) -> None:
        """Wait until the process killed itself (``--kill-before/after-write``)."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._fail("did not reach its kill point")
        if self.proc.returncode != -signal.SIGKILL:
            self._fail("exited without being killed")
        self._reap()

    def _reap(self) -> None:
        self._reader.join(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()

    def _fail(self, what: str) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.flush()
        errors = Path(self.log.name).read_text(errors="replace")[-4000:]
        pytest.fail(f"process {self.proc.pid} {what} (exit {self.proc.returncode}):\n{errors}")


def start_worker(tmp: Path, state: str, max_tasks: int, log: IO[str], *options: str) -> Child:
    """A ``crash_worker.py`` on the files in ``tmp``, waited for until ready."""
    files = [str(tmp / name) for name in ("queue.db", "state.db", "warehouse.db")]
    command = [sys.executable, str(WORKER_SCRIPT), *files, "--state", state]
    worker = Child([*command, "--max-tasks", str(max_tasks), *options], log)
    worker.wait_for("ready")
    return worker


class Ingester(threading.Thread):
    """Ingests requests in small paced chunks, remembering the accepted hits."""

    def __init__(
        self, pipeline: Pipeline, requests: Sequence[dict[str, Any]], chunk: int, pause: float
    ) -> None:
        super().__init__(name="ingester", daemon=True)
        self.pipeline = pipeline
        self.requests = requests
        self.chunk = chunk
        self.pause = pause
        self.accepted: list[str] = []
        self.refused: list[tuple[str, int]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for start in range(0, len(self.requests), self.chunk):
                for request in self.requests[start : start + self.chunk]:
                    status = self.pipeline.ingest(request).status
                    if status == 204:
                        self.accepted.extend(hit_ids(request))
                    else:
                        self.refused.append((str(request["id"]), status))
                time.sleep(self.pause)
        except BaseException as exc:  # reported by the test
            self.error = exc


def read_rows(path: Path) -> tuple[list[str], Rows]:
    """Every row of the ``events`` table: (column names, rows by id)."""
    with sqlite3.connect(path) as conn:
        cursor = conn.execute('SELECT * FROM "events"')
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    position = names.index("id")
    by_id = {row[position]: row for row in rows}
    assert len(by_id) == len(rows), "duplicate ids in the warehouse"
    return names, by_id


def count(path: Path, sql: str) -> int:
    with sqlite3.connect(path) as conn:
        (value,) = conn.execute(sql).fetchone()
    return int(value)


def queued(tmp: Path) -> int:
    """Messages in the queue (published, not acknowledged)."""
    return count(tmp / "queue.db", 'SELECT COUNT(*) FROM "queue_hits"')


def reference_rows(tmp: Path, requests: Sequence[dict[str, Any]]) -> Rows:
    """The rows of the same pipeline fed the same requests, never crashing."""
    tmp.mkdir(parents=True, exist_ok=True)
    with build_pipeline(tmp, "memory") as pipeline:
        for request in requests:
            assert pipeline.ingest(request).status == 204
        pipeline.flush()
    return read_rows(tmp / "warehouse.db")[1]


def flush_rest(tmp: Path, state: str) -> None:
    """Finish in process what the killed workers left: consume, close every protosession."""
    with build_pipeline(tmp, state) as final:
        final.flush()


def check(tmp: Path, accepted: Sequence[str], expected: Rows) -> None:
    """Every accepted hit written once, and the rows exactly ``expected``."""
    names, rows = read_rows(tmp / "warehouse.db")
    missing = set(accepted) - rows.keys()
    assert not missing, f"{len(missing)} accepted hits lost, e.g. {sorted(missing)[:5]}"
    extra = rows.keys() - expected.keys()
    assert not extra, f"{len(extra)} rows of no published hit, e.g. {sorted(extra)[:5]}"
    assert rows.keys() == expected.keys()
    assert count(tmp / "warehouse.db", 'SELECT COUNT(*) FROM "events"') == len(expected)
    session = names.index("session_id")
    orphans = {row[session] for row in rows.values()} - rows.keys()
    assert not orphans, f"session ids that are no row's id: {sorted(orphans)[:5]}"
    different = [key for key in sorted(rows) if rows[key] != expected[key]]
    assert not different, _describe(names, rows, expected, different)
    assert queued(tmp) == 0, "messages left unacknowledged after the flush"


def _describe(names: list[str], rows: Rows, expected: Rows, different: list[str]) -> str:
    lines = [f"{len(different)} rows differ from a run without crashes, e.g.:"]
    for key in different[:5]:
        changes = [
            f"{name}={got!r} (expected {want!r})"
            for name, got, want in zip(names, rows[key], expected[key], strict=True)
            if got != want
        ]
        lines.append(f"  {key}: " + ", ".join(changes))
    return "\n".join(lines)


@pytest.fixture(scope="module")
def traffic() -> list[dict[str, Any]]:
    """About 3,400 requests, 6,300 hits."""
    return list(generate_traffic(visitors=400, seed=11))


@pytest.fixture(scope="module")
def reference(traffic: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Rows:
    return reference_rows(tmp_path_factory.mktemp("reference"), traffic)


@pytest.mark.slow
@pytest.mark.parametrize("state", ["sqlite", "memory"])
def test_randomly_killed_workers_lose_and_duplicate_nothing(
    state: str, tmp_path: Path, traffic: list[dict[str, Any]], reference: Rows
) -> None:
    rng = random.Random(f"at-least-once/{state}")
    ingesting = build_pipeline(tmp_path, state)
    ingester = Ingester(ingesting, traffic, chunk=40, pause=0.02)
    steps = 0
    with open(tmp_path / "worker.log", "w") as log:
        for n in range(rng.randint(5, 8)):
            worker = start_worker(tmp_path, state, rng.randint(5, 20), log)
            if n == 0:
                ingester.start()
                worker.wait_for("step ")  # a loaded machine must not kill it before any work
            time.sleep(rng.uniform(0.05, 0.5))
            worker.kill()
            steps += worker.count("step ")
    ingester.join(60)
    assert not ingester.is_alive()
    assert ingester.error is None, ingester.error
    assert not ingester.refused
    ingesting.close()
    assert len(ingester.accepted) == len(set(ingester.accepted)) == len(reference)
    assert steps > 0, "the workers never got going"

    flush_rest(tmp_path, state)
    check(tmp_path, ingester.accepted, reference)


# (phase, N): the worker SIGKILLs itself just before or just after its N-th
# warehouse write. Several crashes in a row, some on the first write after a
# restart (which closes what the previous crash left half-closed).
KILL_POINTS = [
    ("before", 3),
    ("before", 1),
    ("after", 2),
    ("before", 4),
    ("after", 1),
    ("before", 2),
    ("after", 5),
    ("before", 1),
    ("before", 6),
]


@pytest.mark.slow
@pytest.mark.parametrize("state", ["sqlite", "memory"])
def test_kills_at_exact_points_of_closing(state: str, tmp_path: Path) -> None:
    """Deterministic crashes around the warehouse write, on a queue filled beforehand.

    A kill before the write leaves (with SQLite state) protosessions taken out
    of the open state but unwritten, and possibly a newer open protosession of
    the same client: the next worker must write the former before it adds the
    redelivered hits, or those hits join the newer one and merge two sessions.
    """
    requests = list(generate_traffic(visitors=60, seed=5))
    expected = reference_rows(tmp_path / "reference", requests)
    accepted: list[str] = []
    with build_pipeline(tmp_path, state) as ingesting:
        for request in requests:
            assert ingesting.ingest(request).status == 204
            accepted.extend(hit_ids(request))
    with open(tmp_path / "worker.log", "w") as log:
        for phase, n in KILL_POINTS:
            worker = start_worker(tmp_path, state, 7, log, f"--kill-{phase}-write", str(n))
            worker.wait_killed()
            assert worker.lines[-1] == f"killed {phase} write {n}", worker.lines[-3:]
    assert queued(tmp_path) > 0

    flush_rest(tmp_path, state)
    check(tmp_path, accepted, expected)


INGEST_SCRIPT = """
import sys, time
sys.path.insert(0, sys.argv[1])
from crash_worker import build_pipeline
from d8a.testing import generate_traffic

pipeline = build_pipeline(sys.argv[2], sys.argv[3], sys.argv[4], "memory")
print("ready", flush=True)
for request in generate_traffic(visitors=int(sys.argv[5]), seed=int(sys.argv[6])):
    print(f"{pipeline.ingest(request).status} {request['id']}", flush=True)
    time.sleep(0.001)
print("done", flush=True)
"""


@pytest.mark.slow
def test_killed_web_process_and_worker(tmp_path: Path) -> None:
    """The ingesting side is a subprocess too, and is itself killed mid-stream.

    A request is published in one transaction, so the queue holds a prefix of
    the requests: every request answered 204 and perhaps the one being
    answered when the web process died. The rows must be those of that prefix.
    """
    visitors, seed = 150, 3
    requests = list(generate_traffic(visitors=visitors, seed=seed))
    rng = random.Random("web-and-worker")
    files = [str(tmp_path / name) for name in ("queue.db", "state.db", "warehouse.db")]
    with open(tmp_path / "processes.log", "w") as log:
        worker = start_worker(tmp_path, "sqlite", 10, log)
        command = [sys.executable, "-c", INGEST_SCRIPT, str(HERE), *files]
        web = Child([*command, str(visitors), str(seed)], log)
        web.wait_for("ready")
        target = rng.randint(len(requests) // 3, len(requests) // 2)
        for _ in range(3):
            time.sleep(rng.uniform(0.05, 0.3))
            worker.kill()
            worker = start_worker(tmp_path, "sqlite", rng.randint(5, 20), log)
        web.wait_for("204 ", target)
        web.kill()
        time.sleep(rng.uniform(0.05, 0.3))
        worker.kill()
    answers = [line.split() for line in web.lines if line[:1].isdigit()]
    assert all(status == "204" for status, _ in answers)
    assert [rid for _, rid in answers] == [r["id"] for r in requests[: len(answers)]]
    assert len(answers) < len(requests), "the web process finished before it was killed"
    accepted = [h for r in requests[: len(answers)] for h in hit_ids(r)]

    flush_rest(tmp_path, "sqlite")
    # The request being answered when the web process died may have been published.
    rows = read_rows(tmp_path / "warehouse.db")[1]
    published = len(answers) + bool(set(hit_ids(requests[len(answers)])) & rows.keys())
    expected = reference_rows(tmp_path / "reference", requests[:published])
    check(tmp_path, accepted, expected)
