"""The embedded default: a SQLite queue, a worker thread, a SQLite warehouse file.

This is what a web app does: ``ingest`` in the request handler (durable before
it answers 204), a background worker turning the queue into sessions.

Run: python examples/embedded_pipeline.py [DIRECTORY]
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from pathlib import Path

from d8a import ManualClock, Pipeline
from d8a.testing import generate_traffic

folder = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
pipeline = (
    Pipeline.builder(session_timeout=1800)
    .queue(f"sqlite:///{folder / 'queue.db'}")
    .warehouse(f"sqlite:///{folder / 'events.db'}")
    .clock(ManualClock())  # replayed traffic carries its own times
    .pings(False)
    .build()
)
with pipeline:
    pipeline.worker().start(poll=0.05)  # what a host starts with its app
    for request in generate_traffic(visitors=30, seed=3):
        response = pipeline.ingest(request)  # what a request handler calls
        assert response.status == 204, response.body
    pipeline.worker().stop()
    pipeline.flush()  # close the sessions still open and write them

with sqlite3.connect(folder / "events.db") as db:
    hits, sessions = db.execute(
        "SELECT count(*), count(DISTINCT session_id) FROM events"
    ).fetchone()
print(f"{hits} hits in {sessions} sessions written to {folder / 'events.db'}")
