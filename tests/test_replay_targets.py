"""replay(warehouse=..., layout=...) and the builder's layout by name."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest

import d8a
from d8a.columns.base import Interface, describe_field
from d8a.columns.simple import EventValue
from d8a.layouts import EmbeddedLayout
from d8a.pipeline import Pipeline
from tests.conftest import T0, ga4

REQUESTS = [ga4(cid=f"c{i % 2}", id=f"r{i}", at=T0 + i) for i in range(6)]


def test_replay_also_writes_to_a_warehouse_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    tables = d8a.replay(REQUESTS, warehouse=url)
    assert tables["events"].num_rows == 6
    with sqlite3.connect(tmp_path / "events.db") as db:
        ids = [r[0] for r in db.execute("SELECT id FROM events ORDER BY id")]
    assert ids == sorted(f"r{i}" for i in range(6))
    d8a.replay(REQUESTS, warehouse=url)  # a second replay adds no duplicate
    with sqlite3.connect(tmp_path / "events.db") as db:
        assert db.execute("SELECT count(*) FROM events").fetchone() == (6,)


def test_replay_with_the_split_layout_returns_both_tables() -> None:
    tables = d8a.replay(REQUESTS, layout="split")
    assert set(tables) == {"events", "sessions"}
    assert tables["events"].num_rows == 6
    assert sorted(tables["sessions"].column("session_id").to_pylist()) == ["r0", "r1"]


def test_replay_with_the_ga4_export_layout() -> None:
    events = d8a.replay(REQUESTS, layout="ga4_export")["events"]
    assert "event_params" in events.column_names and events.num_rows == 6


def test_builder_takes_a_layout_name_and_rejects_unknown_ones() -> None:
    pipeline = Pipeline.builder().layout("split").build()
    assert set(pipeline.tables()) == {"events", "sessions"}
    with pytest.raises(d8a.ConfigurationError, match="unknown layout"):
        Pipeline.builder().layout("wide")
    with pytest.raises(d8a.ConfigurationError, match="unsupported warehouse URL"):
        d8a.replay(REQUESTS, warehouse="oracle://x")


def test_migrate_dry_run_prints_the_ddl_and_runs_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    statements = Pipeline.builder().warehouse(url).build().migrate(dry_run=True)
    assert len(statements) == 1 and statements[0].startswith('CREATE TABLE IF NOT EXISTS "events"')
    with sqlite3.connect(tmp_path / "events.db") as db:
        assert db.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    assert Pipeline.builder().warehouse(url).build().migrate() == statements
    assert Pipeline.builder().warehouse(url).build().migrate(dry_run=True) == []
    extra = EventValue(Interface("test/extra", describe_field("extra", pa.string())), lambda e: "x")
    widened = Pipeline.builder().warehouse(url).columns(extra).build()
    assert widened.migrate(dry_run=True) == ['ALTER TABLE "events" ADD COLUMN "extra" TEXT']


def test_embedded_layout_can_prefix_session_columns() -> None:
    events = d8a.replay(REQUESTS, layout=EmbeddedLayout(session_prefix="s_"))["events"]
    assert "s_session_id" in events.column_names and "session_id" not in events.column_names
    assert "session_hit_number" in events.column_names  # session-scoped event columns stay
    assert sorted(set(events.column("s_session_id").to_pylist())) == ["r0", "r1"]
    with pytest.raises(d8a.ConfigurationError):
        EmbeddedLayout(session_prefix="bad prefix")
