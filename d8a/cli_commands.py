"""The ``d8a columns``, ``migrate`` and ``replay`` commands behind :mod:`d8a.cli`."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from d8a.config_file import builder_from_config, load_config

__all__ = ["FORMATS", "columns", "format_rows", "migrate", "replay"]

FORMATS: tuple[str, ...] = ("table", "csv", "json", "markdown")
"""The output formats of ``d8a columns``."""

DEFAULT_WAREHOUSE = "sqlite:///events.db"
"""The warehouse ``d8a replay`` writes when neither the config nor ``--warehouse`` names one."""


def format_rows(
    rows: Sequence[Mapping[str, Any]], names: Sequence[str], fmt: str, *, clip: int | None = 60
) -> str:
    """``rows`` (of ``names``) as an aligned text table, CSV, a JSON list or Markdown.

    Only the text table clips cells longer than ``clip`` (None for never); the other
    formats keep every character."""
    if fmt == "json":
        return json.dumps([{n: row[n] for n in names} for row in rows], indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([[row[n] for n in names] for row in rows])
        return out.getvalue()
    cells = [[str(row[n]) for n in names] for row in rows]
    if fmt == "markdown":
        lines = [f"| {' | '.join(names)} |", f"|{'|'.join(' --- ' for _ in names)}|"]
        lines += [
            "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in line) + " |"
            for line in cells
        ]
        return "\n".join(lines) + "\n"
    grid = [list(names), *([_clip(c, clip) for c in line] for line in cells)]
    widths = [max(len(line[i]) for line in grid) for i in range(len(names))]
    grid.insert(1, ["-" * w for w in widths])
    text = ("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in grid)
    return "\n".join(line.rstrip() for line in text) + "\n"


def _clip(cell: str, width: int | None) -> str:
    """Long cells (struct types list every member) cut so a table row fits a screen."""
    cell = cell.replace("\n", " ")
    return cell if width is None or len(cell) <= width else cell[: width - 1] + "…"


def columns(args: argparse.Namespace) -> int:
    """Print the column catalogue of ``args.protocol`` in ``args.format``."""
    from d8a.columns import describe

    table = describe(args.protocol)
    sys.stdout.write(format_rows(table.to_pylist(), table.schema.names, args.format))
    return 0


def _config(args: argparse.Namespace) -> dict[str, Any]:
    config = load_config(args.config, os.environ)
    if args.warehouse is not None:
        config["warehouse"] = args.warehouse
    if args.layout is not None:
        config["layout"] = args.layout
    return config


def migrate(args: argparse.Namespace) -> int:
    """Create (or with ``--dry-run`` only print) the warehouse DDL."""
    with builder_from_config(_config(args)).build() as pipeline:
        statements = pipeline.migrate(dry_run=args.dry_run)
    for statement in statements:
        print(statement.rstrip().rstrip(";") + ";")
    verb = "would run" if args.dry_run else "ran"
    print(f"-- {verb} {len(statements)} statement(s)", file=sys.stderr)
    return 0


def _progress(stream: TextIO, count: int, hits: int) -> None:
    print(f"replay: {count} requests, {hits} hits", file=stream, flush=True)


def replay(args: argparse.Namespace) -> int:
    """Replay a JSON Lines file into the configured warehouse and print a summary."""
    from d8a.replay import read_requests

    config = _config(args)
    config.setdefault("warehouse", DEFAULT_WAREHOUSE)
    builder = builder_from_config(config).batching(2000, 1e9).pings(False)
    count = 0
    with builder.build() as pipeline:
        worker = pipeline.worker()
        for count, request in enumerate(read_requests(args.file), 1):
            pipeline.ingest(request)
            if count % args.progress_every == 0:
                pipeline.storage.flush()
                worker.run_until_empty()
                _progress(sys.stderr, count, pipeline.receiver.stats.hits)
        pipeline.flush()
        _progress(sys.stderr, count, pipeline.receiver.stats.hits)
        stats = pipeline.receiver.stats
        closer = pipeline.closer.stats
        summary = [
            ("requests", stats.requests),
            ("hits", stats.hits),
            ("rejected", sum(stats.rejected.values())),
            ("sessions", closer.sessions),
            ("rows", closer.events),
            ("warehouse", config["warehouse"]),
        ]
    rows = [{"metric": name, "value": value} for name, value in summary]
    sys.stdout.write(format_rows(rows, ("metric", "value"), "table", clip=None))
    return 0
