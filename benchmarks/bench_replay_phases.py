"""Where a replayed hit's time goes: µs a hit for each step of ``d8a.replay``.

Wraps the few top-level calls of each step with a timer (the wrappers cost
about 1 µs a hit in all), replays generated GA4 traffic, and prints the time
of each step per hit, the rest (the worker's loop, the timing wheel, handing
closed protosessions over) and the total, beside the floor of
``bench_pipeline.py`` measured in the same process. Each figure is from the
fastest of ``--repeat`` replays. The steps:

- receiver: request validation, query parsing, hits, identity stamps;
- protosessions: adding hits to their protosessions (the queue task handler);
- closing: taking the closed protosessions' hits out of the state, in event
  order, and acknowledging them (the handler's ``drain`` without the closer);
- closer: grouping by protocol, counting (``DirectCloser.close`` without the
  three steps below);
- columns: event columns, splitting, filters, session-scoped and session columns;
- rows to Arrow: the layout's ``to_tables``;
- warehouse: the memory driver's ``write``;
- event order: sorting replay's result by event time, then arrival order.

Run: taskset -c 0 python benchmarks/bench_replay_phases.py --hits 100000
(with the Python build only: against the compiled one it says so and exits 2)
"""

from __future__ import annotations

import importlib
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from bench_pipeline import floor, generated
from build_compiled import is_compiled

import d8a
from d8a.layouts.embedded import EmbeddedLayout
from d8a.protosessions.handler import ProtosessionHandler
from d8a.protosessions.tasks import HitBatchHandler
from d8a.receiver import Receiver
from d8a.sessions import writer
from d8a.sessions.writer import DirectCloser
from d8a.warehouse.memory import MemoryDriver

replay_module = importlib.import_module("d8a.replay")  # d8a.replay is also the function

STEPS: tuple[tuple[Any, str, str], ...] = (
    (Receiver, "ingest", "receiver"),
    (HitBatchHandler, "__call__", "protosessions"),
    (ProtosessionHandler, "drain", "closing"),
    (DirectCloser, "close", "closer"),
    (writer, "build_sessions_many", "columns"),
    (EmbeddedLayout, "to_tables", "rows to Arrow"),
    (MemoryDriver, "write", "warehouse"),
    (replay_module, "_in_event_order", "event order"),
)
NESTED = {"closing": ("closer",), "closer": ("columns", "rows to Arrow", "warehouse")}
"""Steps that run inside another: their time is taken out of it."""


def _timed(fn: Callable[..., Any], label: str, spent: Counter[str]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[label] += time.perf_counter() - start

    return timed


@contextmanager
def timed_steps(spent: Counter[str]) -> Iterator[None]:
    """Add each step's time to ``spent`` (seconds) while the block runs."""
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in STEPS]
    try:
        for (owner, name, fn), (_, _, label) in zip(originals, STEPS, strict=True):
            setattr(owner, name, _timed(fn, label, spent))
        yield
    finally:
        for owner, name, fn in originals:
            setattr(owner, name, fn)


def compiled_steps() -> list[str]:
    """The steps whose code the compiled build compiled: compiled callers do not see
    a wrapper set on them, so their time would land in "rest"."""
    labels = []
    for owner, _, label in STEPS:
        module = owner if isinstance(owner, ModuleType) else sys.modules[owner.__module__]
        if is_compiled(module):
            labels.append(label)
    return labels


def main() -> None:
    compiled = compiled_steps()
    if compiled:
        print(
            f"the steps {', '.join(compiled)} are compiled (benchmarks/build_compiled.py): "
            "they cannot be timed one by one; run this with the Python build",
            file=sys.stderr,
        )
        sys.exit(2)
    repeat, requests, hits = generated(__doc__, repeat=2)
    best_floor = best_total = float("inf")
    best: Counter[str] = Counter()
    for _ in range(repeat):
        start = time.perf_counter()
        floor(requests)
        best_floor = min(best_floor, time.perf_counter() - start)
        spent: Counter[str] = Counter()
        with timed_steps(spent):
            start = time.perf_counter()
            d8a.replay(requests)
            total = time.perf_counter() - start
        if total < best_total:
            best_total, best = total, spent
    own = Counter(best)
    for parent, children in NESTED.items():
        own[parent] -= sum(best[child] for child in children)
    for label, seconds in (("(c) floor", best_floor), ("(a) replay", best_total)):
        print(f"{label:<16} {seconds / hits * 1e6:7.1f} µs/hit {hits / seconds:>9,.0f} hits/s")
    for _, _, label in STEPS:
        print(f"  {label:<14} {own[label] / hits * 1e6:7.1f} µs/hit")
    rest = best_total - sum(own.values())
    print(f"  {'rest':<14} {rest / hits * 1e6:7.1f} µs/hit (the worker's loop, the timing wheel)")


if __name__ == "__main__":
    main()
