"""Instructions a replayed hit costs, counted by Valgrind's callgrind.

The wall time of one run on these machines moves by 20-30 % from one hour, even
one minute, to the next, so a change worth a few per cent cannot be seen in
hits/s. Callgrind counts the instructions the CPU runs (and with
``--cache-sim`` simulates its caches): the same code on the same input gives
the same count, whatever else the machine does (``PYTHONHASHSEED=0`` fixes
Python's string hashes). Only the replay is counted, not Python's start-up or
the traffic generator. Compare two versions of d8a by running this script with
each first on ``PYTHONPATH``:

    PYTHONPATH=../old-checkout python benchmarks/count_instructions.py --hits 8000
    PYTHONPATH=. python benchmarks/count_instructions.py --hits 8000

Under callgrind a replay runs about 50 times slower than without it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_pipeline import traffic

INNER = "D8A_COUNT_INSTRUCTIONS"
"""Set in the environment of the copy of this script that callgrind runs."""


def replay_counted(hits: int, seed: int) -> None:
    """Inside callgrind: generate, warm up, then switch counting on for one replay."""
    import d8a

    requests = traffic(hits, seed)
    d8a.replay(requests[:200])  # imports and first-use caches stay out of the count
    control = ["callgrind_control", "--instr=on", str(os.getpid())]
    subprocess.run(control, check=True, capture_output=True)
    d8a.replay(requests)
    print(f"d8a from {Path(d8a.__file__).parent}")


def totals(out_file: Path) -> dict[str, int]:
    """The event totals of a callgrind output file (``Ir``, and the cache events)."""
    events: list[str] = []
    for line in out_file.read_text().splitlines():
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith(("summary:", "totals:")):
            return dict(zip(events, map(int, line.split()[1:]), strict=True))
    raise RuntimeError(f"no totals in {out_file}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hits", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache-sim", action="store_true", help="simulate the caches too")
    args = parser.parse_args()
    if os.environ.get(INNER):
        replay_counted(args.hits, args.seed)
        return 0
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    from d8a.testing import count_hits

    hits = count_hits(traffic(args.hits, args.seed))
    with tempfile.TemporaryDirectory() as folder:
        out_file = Path(folder) / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out_file}",
            f"--cache-sim={'yes' if args.cache_sim else 'no'}",
            sys.executable,
            __file__,
            *sys.argv[1:],
        ]
        env = {**os.environ, INNER: "1", "PYTHONHASHSEED": "0"}
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stderr[-2000:], file=sys.stderr)
            return done.returncode
        print(done.stdout.strip())
        counted = totals(out_file)
    print(f"{hits} generated GA4 hits replayed")
    print(f"instructions per hit: {counted['Ir'] / hits:,.0f}")
    for event, label in (("D1mr", "L1 data read misses"), ("DLmr", "last-level read misses")):
        if event in counted:
            print(f"{label} per hit: {counted[event] / hits:,.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
