"""The throughput benchmarks still run (on a few hundred hits; figures not checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return done.stdout


def test_bench_pipeline_prints_every_figure_and_ratio() -> None:
    out = _run("bench_pipeline.py", "--hits", "300", "--repeat", "1")
    for label in ("(c) floor", "(a) in-memory replay", "(b) embedded", "(b1)", "(b2)"):
        assert label in out
    assert "ratio (a)/(c): 1:" in out and "ratio (b2)/(c): 1:" in out


def test_bench_sqlite_write_compares_the_driver_with_sqlite_alone() -> None:
    out = _run("bench_sqlite_write.py", "--hits", "300", "--batch", "100")
    assert "300 rows of 252 columns" in out
    assert "SQLiteDriver.write" in out and "executemany only (baseline)" in out
    assert "write / baseline:" in out


def test_bench_replay_phases_accounts_for_every_step() -> None:
    out = _run("bench_replay_phases.py", "--hits", "300", "--repeat", "1")
    assert "(c) floor" in out and "(a) replay" in out
    steps = ("receiver", "protosessions", "closing", "closer", "columns", "rows to Arrow")
    for step in (*steps, "warehouse", "event order", "rest"):
        assert f"  {step} " in out
    # The steps are timed: the columns of 300 hits take some time.
    columns = next(line for line in out.splitlines() if line.startswith("  columns "))
    assert float(columns.split()[1]) > 0


def test_count_instructions_counts_only_the_replay() -> None:
    """Needs valgrind (``./dev test`` installs it): the count is of the replay alone,
    a few hundred thousand instructions a hit, not Python's start-up."""
    out = _run("count_instructions.py", "--hits", "200")
    assert f"d8a from {ROOT / 'd8a'}" in out
    line = next(line for line in out.splitlines() if line.startswith("instructions per hit:"))
    per_hit = int(line.split(":")[1].replace(",", ""))
    assert 50_000 < per_hit < 20_000_000
