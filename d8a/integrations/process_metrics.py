"""``/metrics`` of ``d8a serve --workers N``: the sum over every process.

Each process (the N collector processes, and the parent, which runs the worker)
writes its pipeline's metrics snapshot to ``<directory>/<pid>.json`` about once a
second and when it exits, replacing the file at once. ``/metrics`` in a
collector process answers with its own snapshot, taken then, merged with the
others' files (:func:`merge_snapshots`). The file of a process that ended
stays until the server stops, so that its counts still add up.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["SnapshotFiles", "merge_snapshots"]

log = logging.getLogger(__name__)

PUBLISH_INTERVAL = 1.0
"""Seconds between two writes of a process's snapshot file."""


def merge_snapshots(snapshots: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """One snapshot of several processes': counters (ints, and dicts of ints by
    label) summed, ``worker_running`` true when it is in some process, and the
    other gauges (floats, NULL where a process runs no worker) from the first
    snapshot that has them."""
    merged: dict[str, Any] = {}
    for snapshot in snapshots:
        for key, value in snapshot.items():
            have = merged.get(key)
            if isinstance(value, bool):
                merged[key] = bool(have) or value
            elif isinstance(value, int):
                merged[key] = (have or 0) + value
            elif isinstance(value, Mapping):
                counts = dict(have or {})
                for label, count in value.items():
                    counts[label] = counts.get(label, 0) + count
                merged[key] = dict(sorted(counts.items()))
            elif have is None:
                merged[key] = value
    return merged


class SnapshotFiles:
    """This process's snapshot file in ``directory``, and the merge of every file."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        snapshot: Callable[[], Mapping[str, Any]],
        interval: float = PUBLISH_INTERVAL,
        name: str | None = None,
    ) -> None:
        self.directory = Path(directory)
        self._snapshot = snapshot
        self._interval = interval
        self._own = self.directory / f"{name or os.getpid()}.json"
        """This process's file (named after its pid unless ``name`` is given)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def write(self) -> None:
        """Write this process's snapshot now (to a temporary name, then renamed)."""
        temporary = self._own.with_suffix(".tmp")
        temporary.write_text(json.dumps(self._snapshot()), encoding="utf-8")
        os.replace(temporary, self._own)

    def merged(self) -> dict[str, Any]:
        """This process's snapshot, taken now, merged with the other processes' files."""
        snapshots = [self._snapshot()]
        for path in sorted(self.directory.glob("*.json")):
            if path == self._own:
                continue
            try:
                snapshots.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):  # removed meanwhile, or not ours
                continue
        return merge_snapshots(snapshots)

    def start(self) -> None:
        """Write the file now, then every ``interval`` seconds in a daemon thread."""
        self.write()
        self._thread = threading.Thread(target=self._run, name="d8a-metrics-file", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._try_write()

    def _try_write(self) -> None:
        # A full disk or a folder removed at shutdown must not stop the process.
        try:
            self.write()
        except OSError as exc:
            log.warning("cannot write the metrics snapshot %s: %s", self._own, exc)

    def stop(self) -> None:
        """Stop the thread and write the final counts."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._try_write()
