"""The Arrow memory pool of d8a's hot path against pyarrow's default pool.

Replays the same generated traffic in fresh processes, alternating: one where
d8a builds its arrays in its own pool (``d8a.layouts.memory_pool``, jemalloc or
the system allocator), one where ``ARROW_DEFAULT_MEMORY_POOL`` makes it use
pyarrow's default (mimalloc in the Linux wheels). Prints each run's wall, user
and system CPU seconds and minor page faults, then the medians. The system time
is where the pools differ most (mimalloc's fresh pages), and it is steadier than
the wall time on a noisy machine.

Run: taskset -c 0 python benchmarks/bench_memory_pool.py --hits 100000 --pairs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from bench_pipeline import traffic
import d8a
from d8a.layouts.memory_pool import arrow_pool
requests = traffic(int(sys.argv[2]), 1)
d8a.replay(requests[:2000])  # imports and first-use costs out of the timing
before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
d8a.replay(requests)
wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({
    "pool": arrow_pool().backend_name,
    "wall": wall,
    "user": after.ru_utime - before.ru_utime,
    "sys": after.ru_stime - before.ru_stime,
    "faults": after.ru_minflt - before.ru_minflt,
}))
"""

FIGURES = ("wall", "user", "sys", "faults")


def run(hits: int, default_pool: bool) -> dict[str, float | str]:
    """One replay in a fresh process; ``default_pool`` makes d8a use pyarrow's."""
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if default_pool:
        env["ARROW_DEFAULT_MEMORY_POOL"] = "mimalloc"
    here = str(Path(__file__).resolve().parent)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, here, str(hits)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float | str] = json.loads(done.stdout.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hits", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float | str]]] = {"d8a's pool": [], "default pool": []}
    for _ in range(args.pairs):
        for label, default_pool in (("default pool", True), ("d8a's pool", False)):
            result = run(args.hits, default_pool)
            runs[label].append(result)
            figures = "  ".join(f"{name} {result[name]:.2f}" for name in FIGURES[:3])
            print(f"{label:13} ({result['pool']}): {figures}  faults {result['faults']}")
    print(f"medians over {args.pairs} pairs, {args.hits} hits a replay:")
    for label, results in runs.items():
        medians = {name: statistics.median(float(r[name]) for r in results) for name in FIGURES}
        print(
            f"{label:13}: wall {medians['wall']:.2f} s ({args.hits / medians['wall']:,.0f} hits/s)"
            f"  user {medians['user']:.2f}  sys {medians['sys']:.2f}"
            f"  faults {medians['faults']:,.0f}"
        )


if __name__ == "__main__":
    main()
