"""The ``d8a`` command line: ``demo``, ``replay``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from d8a.demo import run_demo, summary

    warehouse = run_demo(args.dir)
    print(summary(warehouse))
    return 0


def _replay(args: argparse.Namespace) -> int:
    from d8a.pipeline import Pipeline
    from d8a.replay import read_requests

    pipeline = Pipeline.builder().warehouse(args.warehouse).batching(2000, 1e9).pings(False).build()
    with pipeline:
        worker = pipeline.worker()
        for count, request in enumerate(read_requests(args.file), 1):
            pipeline.ingest(request)
            if count % 1000 == 0:
                pipeline.storage.flush()
                worker.run_until_empty()
        pipeline.flush()
        stats = pipeline.receiver.stats
        closer = pipeline.closer.stats
        print(
            f"requests: {stats.requests}  hits: {stats.hits}  "
            f"rejected: {sum(stats.rejected.values())}  sessions: {closer.sessions}  "
            f"rows: {closer.events}  -> {args.warehouse}"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``d8a`` command."""
    parser = argparse.ArgumentParser(prog="d8a", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="replay the bundled sample traffic into a SQLite warehouse and summarise it"
    )
    demo.add_argument("--dir", default="d8a-demo", help="where to write queue.db and events.db")
    demo.set_defaults(func=_demo)
    replay = commands.add_parser("replay", help="replay a JSON Lines file of request dicts")
    replay.add_argument("file", help="JSON Lines file (.jsonl or .jsonl.gz)")
    replay.add_argument("--warehouse", default="sqlite:///events.db", help="warehouse URL")
    replay.set_defaults(func=_replay)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
