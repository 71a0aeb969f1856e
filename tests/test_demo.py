"""The README's main job: the bundled sample traffic through the SQLite pipeline."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import d8a
from d8a.cli import main
from d8a.demo import sample_path


def test_demo_writes_every_sample_hit_and_summarises(tmp_path: Path, capsys: object) -> None:
    assert main(["demo", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    with sqlite3.connect(tmp_path / "events.db") as db:
        rows, unique = db.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone()
    expected = d8a.replay(sample_path())["events"]
    assert rows == unique == expected.num_rows
    assert f"hits: {rows}" in out and "top pages" in out
    assert "google / organic" in out and "direct / none" in out


def test_demo_is_repeatable(tmp_path: Path) -> None:
    main(["demo", "--dir", str(tmp_path)])
    with sqlite3.connect(tmp_path / "events.db") as db:
        first = db.execute("SELECT id, session_id FROM events ORDER BY id").fetchall()
    main(["demo", "--dir", str(tmp_path)])
    with sqlite3.connect(tmp_path / "events.db") as db:
        second = db.execute("SELECT id, session_id FROM events ORDER BY id").fetchall()
    assert first == second


def test_replay_command(tmp_path: Path, capsys: object) -> None:
    url = f"sqlite:///{tmp_path / 'out.db'}"
    assert main(["replay", str(sample_path()), "--warehouse", url]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert ["rejected", "0"] in [line.split() for line in out.splitlines()]
