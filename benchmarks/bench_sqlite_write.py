"""What writing GA4 rows to the SQLite warehouse costs, per row, against SQLite alone.

Replays generated traffic once (all 252 GA4 columns), then writes its rows in
batches of ``--batch`` rows:

- ``SQLiteDriver.write``: the driver as the pipeline uses it (columns NULL on
  the whole batch left out, values converted, one transaction a batch);
- conversion only: the driver's per-column conversion of the same batches;
- ``executemany`` only: the same converted rows inserted by plain ``sqlite3``
  into a table of the same columns (the baseline: SQLite's own cost).

Run: python benchmarks/bench_sqlite_write.py [--hits 20000] [--batch 500]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

import d8a
from d8a.testing import generate_traffic
from d8a.warehouse.sqlite import SQLiteDriver, quote_identifier
from d8a.warehouse.sqlite_values import column_values, present_columns


def _rows(hits: int) -> pa.Table:
    requests = list(generate_traffic(visitors=hits // 12 + 10, seed=1, days=3))
    table: pa.Table = d8a.replay(requests)["events"]
    return table.slice(0, hits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hits", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    table = _rows(args.hits)
    batches = [table.slice(start, args.batch) for start in range(0, len(table), args.batch)]
    rows = len(table)
    print(f"{rows} rows of {table.num_columns} columns, batches of {args.batch}")
    with tempfile.TemporaryDirectory() as tmp:
        driver = SQLiteDriver(Path(tmp) / "driver.db")
        driver.create_table("events", table.schema)
        start = time.process_time()
        for batch in batches:
            driver.write("events", batch)
        write = time.process_time() - start
        driver.close()

        start = time.process_time()
        converted: list[tuple[list[int], list[tuple[Any, ...]]]] = []
        for batch in batches:
            present = present_columns(batch)
            columns = [column_values(batch.column(i)) for i in present]
            converted.append((present, list(zip(*columns, strict=True))))
        convert = time.process_time() - start

        names = table.column_names
        conn = sqlite3.connect(Path(tmp) / "plain.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        columns_sql = ", ".join(
            quote_identifier(n) + (" TEXT PRIMARY KEY" if n == "id" else "") for n in names
        )
        conn.execute(f"CREATE TABLE events ({columns_sql})")
        start = time.process_time()
        for present, values in converted:
            listed = ", ".join(quote_identifier(names[i]) for i in present)
            marks = ", ".join("?" * len(present))
            conn.execute("BEGIN")
            conn.executemany(f"INSERT OR IGNORE INTO events ({listed}) VALUES ({marks})", values)
            conn.execute("COMMIT")
        insert = time.process_time() - start
        conn.close()
    for name, seconds in [
        ("SQLiteDriver.write", write),
        ("conversion only", convert),
        ("executemany only (baseline)", insert),
    ]:
        print(f"{name:<30} {seconds / rows * 1e6:8.1f} µs a row (CPU)")
    print(f"write / baseline: {write / insert:.2f}")


if __name__ == "__main__":
    main()
