"""Merging the metrics snapshots of several processes (``d8a serve --workers``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from d8a.integrations.process_metrics import SnapshotFiles, merge_snapshots

COLLECTOR = {
    "requests": {"204": 3, "400": 1},
    "hits_accepted": 3,
    "rows_written": {},
    "worker_running": False,
    "protosessions_open": None,
    "clock_lag_seconds": None,
}
WORKER = {
    "requests": {},
    "hits_accepted": 0,
    "rows_written": {"events": 5},
    "worker_running": True,
    "protosessions_open": 2,
    "clock_lag_seconds": 0.5,
}


def test_counters_add_up_and_the_worker_gauges_come_from_the_worker() -> None:
    merged = merge_snapshots([COLLECTOR, WORKER, {**COLLECTOR, "requests": {"204": 4}}])
    assert merged == {
        "requests": {"204": 7, "400": 1},
        "hits_accepted": 6,
        "rows_written": {"events": 5},
        "worker_running": True,
        "protosessions_open": 2,
        "clock_lag_seconds": 0.5,
    }
    alone = merge_snapshots([COLLECTOR])
    assert alone == COLLECTOR
    assert alone["protosessions_open"] is None and alone["worker_running"] is False


def test_each_process_answers_with_its_own_fresh_snapshot_and_the_others_files(
    tmp_path: Path,
) -> None:
    counts = {"collector": 1}
    collector = SnapshotFiles(
        tmp_path, lambda: {**COLLECTOR, "hits_accepted": counts["collector"]}, name="a"
    )
    worker = SnapshotFiles(tmp_path, lambda: WORKER, name="b")
    worker.start()
    collector.start()
    try:
        counts["collector"] = 9  # newer than its file: its own answer takes it now
        assert collector.merged()["hits_accepted"] == 9
        assert worker.merged()["hits_accepted"] == 1  # the collector's file, a second old
        assert collector.merged()["rows_written"] == {"events": 5}
        (tmp_path / "junk.json").write_text("{not json")  # a broken file is left out
        assert collector.merged()["worker_running"] is True
    finally:
        collector.stop()
        worker.stop()
    assert worker.merged()["hits_accepted"] == 9  # stop() wrote the final counts
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["a.json", "b.json", "junk.json"]


def test_a_folder_gone_at_shutdown_is_a_warning_not_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = SnapshotFiles(tmp_path / "gone", lambda: COLLECTOR, name="a")
    files.stop()  # never started, folder missing: the final write only warns
    assert "cannot write the metrics snapshot" in caplog.text
