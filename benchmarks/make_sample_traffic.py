"""Write d8a/data/sample_traffic.jsonl.gz, the bundled demo traffic.

Run ``PYTHONPATH=. python benchmarks/make_sample_traffic.py`` from the repository root. The
output is byte-for-byte reproducible: the traffic is seeded and gzip gets
``mtime=0`` (one JSON request dict per line, the body as a UTF-8 string).
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

from d8a.testing import generate_traffic

VISITORS = 300
SEED = 42
TARGET = Path(__file__).resolve().parent.parent / "d8a" / "data" / "sample_traffic.jsonl.gz"


def sample_lines(visitors: int = VISITORS, seed: int = SEED) -> bytes:
    """The uncompressed JSON Lines text of the sample traffic."""
    lines = []
    for request in generate_traffic(visitors=visitors, seed=seed):
        request["body"] = request["body"].decode()
        lines.append(json.dumps(request, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode()


def build(visitors: int = VISITORS, seed: int = SEED) -> bytes:
    """The gzip file's bytes (``mtime=0``, so the same input gives the same bytes)."""
    return gzip.compress(sample_lines(visitors, seed), compresslevel=9, mtime=0)


def main() -> int:
    data = build()
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_bytes(data)
    print(f"wrote {TARGET} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
