"""The ``d8a columns``, ``migrate`` and ``replay`` commands, run in-process."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from d8a.cli import main
from d8a.columns import describe
from d8a.demo import sample_path
from d8a.replay import read_requests


def _tables(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return sorted(name for (name,) in rows)


def _summary(out: str) -> dict[str, str]:
    pairs = (line.split(maxsplit=1) for line in out.splitlines()[2:] if line.strip())
    return {key: value for key, value in pairs}


def test_columns_table_lists_every_column(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["columns", "--protocol", "ga4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = describe("ga4").column("name").to_pylist()
    assert lines[0].split()[:3] == ["name", "type", "scope"]
    assert set(lines[1]) <= {"-", " "}
    assert [line.split()[0] for line in lines[2:]] == names
    assert all(len(line) < 400 for line in lines)


def test_columns_csv_and_json_match_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    expected = describe("d8a").to_pylist()
    main(["columns", "--protocol", "d8a", "--format", "csv"])
    assert list(csv.DictReader(io.StringIO(capsys.readouterr().out))) == expected
    main(["columns", "--protocol", "d8a", "--format", "json"])
    assert json.loads(capsys.readouterr().out) == expected


def test_columns_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    main(["columns", "--format", "markdown"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| name | type | scope | interface_id | version | description |"
    assert lines[1].startswith("| --- |")
    assert lines[2].startswith("| id | string | event |")
    assert len(lines) == 2 + describe("ga4").num_rows


def test_columns_unknown_protocol_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["columns", "--protocol", "nope"]) == 2
    assert "unknown protocol 'nope'" in capsys.readouterr().err


def test_migrate_dry_run_prints_ddl_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "events.db"
    config = tmp_path / "d8a.toml"
    config.write_text(f'warehouse = "sqlite:///{db}"\nlayout = "split"\n', encoding="utf-8")
    assert main(["migrate", "--config", str(config), "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert 'CREATE TABLE IF NOT EXISTS "events"' in captured.out
    assert 'CREATE TABLE IF NOT EXISTS "sessions"' in captured.out
    assert "would run 2 statement(s)" in captured.err
    assert not db.exists() or _tables(db) == []


def test_migrate_creates_the_tables_and_flags_override_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "d8a.toml"
    config.write_text('warehouse = "memory://"\nlayout = "split"\n', encoding="utf-8")
    db = tmp_path / "events.db"
    args = ["migrate", "--config", str(config), "--warehouse", f"sqlite:///{db}"]
    assert main([*args, "--layout", "embedded"]) == 0
    assert "CREATE TABLE" in capsys.readouterr().out
    assert _tables(db) == ["events"]
    assert main(args) == 0  # the config's split layout adds the sessions table
    assert _tables(db) == ["events", "sessions"]


def test_migrate_with_a_bad_config_key_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "d8a.toml"
    config.write_text("session_timout = 10\n", encoding="utf-8")
    assert main(["migrate", "--config", str(config), "--dry-run"]) == 2
    assert "session_timout" in capsys.readouterr().err


def test_replay_prints_progress_and_a_summary_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "out.db"
    total = sum(1 for _ in read_requests(sample_path()))
    url = f"sqlite:///{db}"
    assert main(["replay", str(sample_path()), "--warehouse", url, "--progress-every", "500"]) == 0
    captured = capsys.readouterr()
    progress = captured.err.splitlines()
    assert progress[0].startswith("replay: 500 requests, ")
    assert progress[-1].startswith(f"replay: {total} requests, ")
    summary = _summary(captured.out)
    assert list(summary) == ["requests", "hits", "rejected", "sessions", "rows", "warehouse"]
    assert summary["requests"] == str(total) and summary["rejected"] == "0"
    assert summary["warehouse"] == url
    with sqlite3.connect(db) as conn:
        (rows,) = conn.execute("SELECT count(*) FROM events").fetchone()
    assert summary["rows"] == summary["hits"] == str(rows)


def test_replay_reads_config_and_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "split.db"
    config = tmp_path / "d8a.toml"
    config.write_text(f'warehouse = "sqlite:///{db}"\nlayout = "split"\n', encoding="utf-8")
    monkeypatch.setenv("D8A_SESSION_TIMEOUT", "60")
    assert main(["replay", str(sample_path()), "--config", str(config)]) == 0
    short = _summary(capsys.readouterr().out)
    assert _tables(db) == ["events", "sessions"]
    monkeypatch.delenv("D8A_SESSION_TIMEOUT")
    other = tmp_path / "default.db"
    main(
        ["replay", str(sample_path()), "--config", str(config), "--warehouse", f"sqlite:///{other}"]
    )
    default = _summary(capsys.readouterr().out)
    assert int(short["sessions"]) > int(default["sessions"])
