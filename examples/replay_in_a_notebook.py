"""Replay recorded hits and look at the sessions, as an analyst would in a notebook.

Run: python examples/replay_in_a_notebook.py
"""

from __future__ import annotations

import pyarrow.compute as pc

import d8a
from d8a.testing import generate_traffic

# Any iterable of request dicts works; a JSON Lines file path too.
requests = list(generate_traffic(visitors=50, seed=7))
events = d8a.replay(requests, session_timeout=1800)["events"]

print(f"{events.num_rows} events in {len(pc.unique(events['session_id']))} sessions")
page_views = events.filter(pc.equal(events["name"], "page_view"))
by_path = page_views.group_by("page_path").aggregate([("id", "count")])
for row in by_path.sort_by([("id_count", "descending")]).slice(0, 5).to_pylist():
    print(f"{row['id_count']:>5}  {row['page_path']}")
