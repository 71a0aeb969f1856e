"""Sessionising many hits with SQLite state: peak memory and throughput at scale.

Each size runs in its own process (peak RSS is per process): generated traffic
is streamed (never held in memory) through the pipeline with a SQLite queue,
SQLite protosession state and a SQLite warehouse, the receiver batching hits.
The target: 1,000,000 hits stay under 300 MB peak and within 20 % of the
throughput of a 100,000-hit run.

Run: python benchmarks/bench_sessionising.py [--sizes 100000 1000000]
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from d8a import ManualClock, Pipeline
from d8a.testing import generate_traffic

START = 1_790_000_000.0


def traffic() -> Iterator[dict[str, Any]]:
    """Endless generated traffic in consecutive windows of 1,000 visitors.

    One generator for all visitors would hold every visitor's state at once (the
    generator, not the pipeline, would dominate the peak), so windows follow each
    other four days apart."""
    for window in itertools.count():
        yield from generate_traffic(
            visitors=1000, seed=window, start=START + window * 4 * 86400.0, days=1
        )


def run_one(hits: int) -> dict[str, float]:
    """Sessionise ``hits`` generated hits; return hits/s and peak RSS in MB."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pipeline = (
            Pipeline.builder()
            .queue(f"sqlite:///{folder / 'queue.db'}")
            .state(f"sqlite:///{folder / 'state.db'}")
            .warehouse(f"sqlite:///{folder / 'events.db'}")
            .clock(ManualClock())
            .pings(False)
            .batching(max_hits=1000, max_delay=1.0)
            .build()
        )
        start = time.perf_counter()
        with pipeline:
            worker = pipeline.worker()
            stats = pipeline.receiver.stats
            for count, request in enumerate(traffic(), 1):
                pipeline.ingest(request)
                if count % 500 == 0:
                    pipeline.storage.flush()
                    worker.run_until_empty()
                if stats.hits >= hits:
                    break
            pipeline.flush()
            sessionised = stats.hits
        elapsed = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"hits": sessionised, "hits_per_s": sessionised / elapsed, "peak_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one)))
        return
    results = []
    for size in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(size)],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(out.stdout)
        results.append(result)
        print(
            f"{result['hits']:>9,} hits: {result['hits_per_s']:>8,.0f} hits/s, "
            f"peak {result['peak_mb']:.0f} MB",
            flush=True,
        )
    if len(results) > 1:
        ratio = results[-1]["hits_per_s"] / results[0]["hits_per_s"]
        print(f"throughput of the largest run: {ratio:.0%} of the smallest")
    print("targets: 1,000,000 hits under 300 MB peak, throughput within 20 % of 100,000")


if __name__ == "__main__":
    main()
