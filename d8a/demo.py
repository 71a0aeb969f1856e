"""The quick-start job: bundled sample traffic through the embedded SQLite pipeline.

Every request goes through :meth:`Pipeline.ingest` into a SQLite queue, a worker
turns the queue into sessions, and the rows land in a SQLite warehouse file;
then a short summary is read back from that file with plain SQL.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from importlib import resources
from pathlib import Path

from d8a.clock import ManualClock
from d8a.pipeline import Pipeline
from d8a.replay import read_requests

__all__ = ["SAMPLE_TRAFFIC", "run_demo", "summary"]

SAMPLE_TRAFFIC = "sample_traffic.jsonl.gz"


def sample_path() -> Path:
    """Path of the bundled sample traffic file."""
    return Path(str(resources.files("d8a") / "data" / SAMPLE_TRAFFIC))


def run_demo(directory: str | os.PathLike[str] = "d8a-demo") -> Path:
    """Replay the sample traffic into ``<directory>/events.db``; return its path.

    The directory is emptied of earlier demo files first, so the demo can be run
    again and always gives the same rows (the sample requests carry their ids).
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("queue.db", "events.db"):
        for suffix in ("", "-wal", "-shm"):
            (folder / f"{name}{suffix}").unlink(missing_ok=True)
    warehouse = folder / "events.db"
    pipeline = (
        Pipeline.builder()
        .queue(f"sqlite:///{folder / 'queue.db'}")
        .warehouse(f"sqlite:///{warehouse}")
        .clock(ManualClock())
        .pings(False)
        .build()
    )
    with pipeline:
        worker = pipeline.worker()
        for count, request in enumerate(read_requests(sample_path()), 1):
            pipeline.ingest(request)
            if count % 500 == 0:
                worker.run_until_empty()
        pipeline.flush()
    return warehouse


def summary(warehouse: str | os.PathLike[str], top: int = 5) -> str:
    """A short text report of a SQLite warehouse written by d8a."""
    with closing(sqlite3.connect(os.fspath(warehouse))) as db:
        hits, sessions, visitors, first, last = db.execute(
            "SELECT count(*), count(DISTINCT session_id), count(DISTINCT client_id),"
            " min(timestamp_utc), max(timestamp_utc) FROM events"
        ).fetchone()
        pages = db.execute(
            "SELECT page_path, count(*) FROM events WHERE name = 'page_view'"
            " GROUP BY page_path ORDER BY count(*) DESC, page_path LIMIT ?",
            (top,),
        ).fetchall()
        sources = db.execute(
            "SELECT session_source || ' / ' || session_medium, count(DISTINCT session_id)"
            " FROM events GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?",
            (top,),
        ).fetchall()
        events = db.execute(
            "SELECT name, count(*) FROM events GROUP BY name ORDER BY count(*) DESC, name LIMIT ?",
            (top,),
        ).fetchall()
    lines = [
        f"warehouse: {warehouse}",
        f"hits: {hits}   sessions: {sessions}   visitors: {visitors}",
        f"from {first} to {last} (UTC)",
        "",
        "top pages (page views):",
        *(f"  {count:>6}  {path}" for path, count in pages),
        "",
        "top source / medium (sessions):",
        *(f"  {count:>6}  {source}" for source, count in sources),
        "",
        "top events:",
        *(f"  {count:>6}  {name}" for name, count in events),
    ]
    return "\n".join(lines)
