"""Pipeline throughput against a floor, all in one run (machines here are noisy).

(a) in-memory ``d8a.replay``; (b) the embedded SQLite pipeline end to end
(``ingest`` into a SQLite queue, a worker sessionising, a SQLite warehouse
file), with the receiver batching hits as the original's receiver does (up to
1000 hits or 1 s per queue message), then the same publishing every request
before answering it (the default: durable before 204), then that with SQLite
protosession state too; (c) the floor: the same hits through only
``urllib.parse.parse_qsl``, a cbor2 + zstandard round trip and a ``pyarrow``
table build. Each figure is the best of ``--repeat`` runs.

Run: ./dev bench [--hits 100000]   (or python benchmarks/bench_pipeline.py)
     ./dev bench --compiled           (the mypyc build: benchmarks/build_compiled.py)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import cbor2
import pyarrow as pa
import zstandard
from build_compiled import compiled_modules

import d8a
from d8a import ManualClock, Pipeline
from d8a.testing import count_hits, generate_traffic

FLOOR_COLUMNS = ("v", "tid", "cid", "en", "dl", "dt", "dr", "ul", "sr", "sid", "sct", "_et")


def traffic(hits: int, seed: int) -> list[dict[str, Any]]:
    """Generated requests holding at least ``hits`` hits."""
    requests: list[dict[str, Any]] = []
    total = 0
    for request in generate_traffic(visitors=hits // 12 + 10, seed=seed, days=3):
        requests.append(request)
        total += count_hits([request])
        if total >= hits:
            break
    return requests


def floor(requests: list[dict[str, Any]]) -> None:
    """Parse, round-trip through CBOR + zstandard in batches of 100, build a table."""
    compressor, decompressor = zstandard.ZstdCompressor(level=1), zstandard.ZstdDecompressor()
    hits: list[dict[str, Any]] = []
    for request in requests:
        shared = dict(parse_qsl(request["query"]))
        body = request["body"]
        lines = body.decode().split("\n") if body else []
        for line in lines or [""]:
            params = {**shared, **dict(parse_qsl(line))}
            hits.append({"params": params, "headers": request["headers"], "ip": request["ip"]})
    decoded: list[dict[str, Any]] = []
    for start in range(0, len(hits), 100):
        blob = compressor.compress(cbor2.dumps(hits[start : start + 100]))
        decoded.extend(cbor2.loads(decompressor.decompress(blob)))
    columns = {name: [h["params"].get(name) for h in decoded] for name in FLOOR_COLUMNS}
    columns["ip"] = [h["ip"] for h in decoded]
    pa.table(columns)


def memory_replay(requests: list[dict[str, Any]]) -> None:
    d8a.replay(requests)


def sqlite_pipeline(state: str, batching: bool) -> Callable[[list[dict[str, Any]]], None]:
    def run(requests: list[dict[str, Any]]) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            builder = (
                Pipeline.builder()
                .queue(f"sqlite:///{folder / 'queue.db'}")
                .state(state.format(folder=folder))
                .warehouse(f"sqlite:///{folder / 'events.db'}")
                .clock(ManualClock())
                .pings(False)
            )
            if batching:
                builder.batching(max_hits=1000, max_delay=1.0)
            pipeline = builder.build()
            with pipeline:
                worker = pipeline.worker()
                for count, request in enumerate(requests, 1):
                    pipeline.ingest(request)
                    if count % 200 == 0:
                        worker.run_until_empty()
                pipeline.flush()

    return run


def measure(
    fn: Callable[[list[dict[str, Any]]], None], requests: list[dict[str, Any]], repeat: int
) -> float:
    """Best wall time of ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(requests)
        best = min(best, time.perf_counter() - start)
    return best


def generated(description: str | None, repeat: int) -> tuple[int, list[dict[str, Any]], int]:
    """Parse ``--hits``, ``--seed`` and ``--repeat``, generate the requests and say
    how many hits they hold; returns (repeat, requests, hits)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--hits", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=repeat)
    args = parser.parse_args()
    requests = traffic(args.hits, args.seed)
    hits = count_hits(requests)
    print(f"{hits} generated GA4 hits in {len(requests)} requests")
    return args.repeat, requests, hits


def build_name() -> str:
    """Which d8a is measured: the Python one, or how many modules are compiled."""
    package = Path(d8a.__file__).parent
    compiled = compiled_modules(package.parent)
    if not compiled:
        return f"Python build of d8a ({package})"
    return f"mypyc build of d8a, {len(compiled)} modules compiled ({package})"


def main() -> None:
    repeat, requests, hits = generated(__doc__, repeat=3)
    print(build_name())
    runs = {
        "(c) floor: parse_qsl + cbor2/zstd + pyarrow": floor,
        "(a) in-memory replay": memory_replay,
        "(b) embedded SQLite pipeline, batching receiver": sqlite_pipeline("memory://", True),
        "(b1) same, each request durable before 204": sqlite_pipeline("memory://", False),
        "(b2) same, and SQLite protosession state": sqlite_pipeline(
            "sqlite:///{folder}/state.db", False
        ),
    }
    rates = {}
    for name, fn in runs.items():
        key = name.split()[0]
        rates[key] = hits / measure(fn, requests, repeat)
        print(f"{name:<52} {rates[key]:>10,.0f} hits/s", flush=True)
    floor_rate = rates["(c)"]
    for key in ("(a)", "(b)", "(b1)", "(b2)"):
        print(f"ratio {key}/(c): 1:{floor_rate / rates[key]:.2f}")
    print("targets: (a) >= 20,000 hits/s, (b) >= 8,000 hits/s, (c)/(a) no worse than 1:4")


if __name__ == "__main__":
    main()
